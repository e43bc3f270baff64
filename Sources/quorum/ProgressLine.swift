import Foundation

/// How far a long command got, on standard error so that its result on standard output stays clean: redrawn in
/// place on a terminal, one line per step when redirected.
struct ProgressLine {
    private let redraws = isatty(STDERR_FILENO) == 1

    func show(_ text: String) {
        FileHandle.standardError.write(Data((redraws ? "\r\u{1B}[2K" + text : text + "\n").utf8))
    }

    /// Ends a line being redrawn, so that what follows starts on a line of its own.
    func finish() {
        if redraws { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
