import Basics
import Foundation

extension CommunicatorSelfTest {
    /// The `pd-bench mpi-self-test` driver: runs the self-test on MPI_COMM_WORLD, then times one
    /// latent-sized `allGatherAndRestore`; rank 0 prints the results. A failing rank prints its
    /// error to stderr and calls MPI_Abort (exit code 3), so the job ends instead of hanging.
    /// Returns the process exit code (0 on success).
    public static func runOverMPI(rounds: Int, failRank: Int?, timedRows: Int = 1024, rowWidth: Int = 576) -> Int32 {
        let comm: MPICommunicator
        do {
            comm = try MPICommunicator.initialize()
        } catch {
            FileHandle.standardError.write(Data("mpi-self-test: cannot initialise MPI: \(error)\n".utf8))
            return 2
        }
        do {
            let summary = try run(on: comm, rounds: rounds, failRank: failRank)
            let timing = try timeRestore(comm, rowsPerRank: timedRows, rowWidth: rowWidth, repetitions: 10)
            let line = "rank \(comm.rank): \(summary.rounds) rounds, \(summary.collectives) collectives ok"
            let lines = try comm.gatherBytes(Array(line.utf8), root: 0)
            if comm.rank == 0 {
                for bytes in lines { print(String(decoding: bytes, as: UTF8.self)) }
                print(timing)
                print("mpi-self-test: PASS on \(comm.size) ranks")
            }
            comm.finalize()
            return 0
        } catch {
            FileHandle.standardError.write(Data("mpi-self-test: rank \(comm.rank) of \(comm.size) FAILED: \(error); aborting the job\n".utf8))
            comm.abort(code: 3)
        }
    }

    /// Times the PCP latent exchange: every rank sends [rowsPerRank, rowWidth] floats (one request
    /// of P·rowsPerRank tokens), all ranks gather and restore. Reports the slowest rank's mean.
    private static func timeRestore(_ comm: Communicator, rowsPerRank: Int, rowWidth: Int, repetitions: Int) throws -> String {
        let plan = ShardPlan(lengths: [comm.size * rowsPerRank], ranks: comm.size)
        let local = [Float](repeating: Float(comm.rank), count: plan.rowsPerRank * rowWidth)
        var scratch = [Float](repeating: 0, count: comm.size * plan.rowsPerRank * rowWidth)
        var out = [Float](repeating: 0, count: plan.totalLength * rowWidth)
        try comm.barrier()
        let start = monotonicSeconds()
        for _ in 0..<repetitions {
            try local.withUnsafeBufferPointer { l in
                try scratch.withUnsafeMutableBufferPointer { s in
                    try out.withUnsafeMutableBufferPointer {
                        try allGatherAndRestore(local: l, rowWidth: rowWidth, plan: plan, communicator: comm, gatherScratch: s, into: $0)
                    }
                }
            }
        }
        let seconds = try comm.allReduceMax(monotonicSeconds() - start) / Double(repetitions)
        let gatheredBytes = Double(comm.size * plan.rowsPerRank * rowWidth * MemoryLayout<Float>.size)
        return String(format: "allGatherAndRestore [%d ranks x %d rows x %d floats] = %.1f MB gathered per rank: %.3f ms, %.2f GB/s received",
                      comm.size, plan.rowsPerRank, rowWidth, gatheredBytes / 1e6, seconds * 1e3, gatheredBytes / seconds / 1e9)
    }
}
