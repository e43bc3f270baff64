#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// The C functions whose names `Posix` and `PosixFileIO` reuse for their own methods, reached from file scope
// where the names are not shadowed; this keeps the callers free of `Glibc.`/`Darwin.` qualifiers.

func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}

func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }

func systemClose(_ descriptor: Int32) -> Int32 { close(descriptor) }

func systemRename(_ source: String, _ target: String) -> Int32 { rename(source, target) }
