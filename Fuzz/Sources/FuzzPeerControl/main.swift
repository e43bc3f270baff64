import CLibFuzzer
import QuorumFuzzing

quorum_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv) { FuzzTarget.peerControl.fuzz($0, $1) }
