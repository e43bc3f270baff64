/// The running counts behind `BackendStats`, kept per instance by the routing.
struct BackendCounters {
    var active = 0
    var total = 0
    var failures = 0
    var bytesSent = 0
    var bytesReceived = 0

    func stats(address: String, state: BackendStats.State) -> BackendStats {
        BackendStats(
            address: address, state: state, active: active, total: total, failures: failures, bytesSent: bytesSent,
            bytesReceived: bytesReceived)
    }
}
