import CLibFuzzer
import QuorumFuzzing

quorum_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv) { FuzzTarget.storeSnapshot.fuzz($0, $1) }
