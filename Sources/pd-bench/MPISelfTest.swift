import ArgumentParser
import ContextParallel

/// Hidden: checks every collective of the MPI communicator (and the PCP gather + restore) under
/// mpirun; exits non-zero on a mismatch. Used by Tests/Integration/mpi-communicator.sh.
struct MPISelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mpi-self-test",
        abstract: "Check MPI collectives and the PCP latent gather/restore across mpirun ranks.",
        shouldDisplay: false
    )

    @Option(help: "Rounds of the full collective check (sizes and roots change every round).")
    var rounds = 200

    @Option(name: .customLong("fail-rank"), help: "This rank fails on purpose in round 1 (the job must end, not hang).")
    var failRank: Int?

    func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be ≥ 1, got \(rounds)") }
    }

    func run() throws {
        let code = CommunicatorSelfTest.runOverMPI(rounds: rounds, failRank: failRank)
        if code != 0 { throw ExitCode(code) }
    }
}
