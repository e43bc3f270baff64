/// The directory a path names its last component in: "" for a bare name (the working directory), "/" for a name at
/// the root. Written out because Foundation's `NSString.deletingLastPathComponent` traps on a one-character name
/// (swift-corelibs-foundation with Swift 6.3), which made `quorum server --data-dir d` crash at start.
public func parentDirectory(of path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return "" }
    if slash == trimmed.startIndex { return "/" }
    return String(trimmed[..<slash])
}
