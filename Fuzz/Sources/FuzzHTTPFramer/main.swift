import CLibFuzzer
import QuorumFuzzing

quorum_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv) { FuzzTarget.httpFramer.fuzz($0, $1) }
