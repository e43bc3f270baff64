import Foundation

/// INFO's `used_memory`: this process's resident memory, where the system says (Linux's /proc/self/statm); 0
/// elsewhere. A Quorum node keeps its whole store in memory, so this is close to what Redis's figure means.
enum RedisProcessMemory {
    static func residentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
