import NIOCore

/// Whether a channel reads by itself (`autoRead`), changed only when it must: every change is a system call on
/// the selector, and back-pressure asks for the same state over and over. Used only on the channel's loop.
struct ReadingSwitch {
    private var isPaused = false

    mutating func set(paused: Bool, on channel: any Channel) {
        guard paused != isPaused else { return }
        isPaused = paused
        try? channel.syncOptions?.setOption(ChannelOptions.autoRead, value: !paused)
    }
}
