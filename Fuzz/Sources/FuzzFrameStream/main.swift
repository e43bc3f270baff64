import CLibFuzzer
import QuorumFuzzing

quorum_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv) { FuzzTarget.frameStream.fuzz($0, $1) }
