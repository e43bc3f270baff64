import CLibFuzzer
import QuorumFuzzing

quorum_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv) { FuzzTarget.httpBodies.fuzz($0, $1) }
