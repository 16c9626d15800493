#!/usr/bin/env bash
# MPI communicator under mpirun: every collective and the PCP gather + restore on 2 and 3 ranks
# (`pd-bench mpi-self-test`), and a rank that fails on purpose must end the whole job promptly
# with a non-zero exit and a message naming the rank (never a hang).
set -uo pipefail
cd "$(dirname "$0")/../.."
bin="${LATENTSERVE_BIN:-.build/release}/pd-bench"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
[ -x "$bin" ] || { echo "FAIL: $bin not built (swift build -c release --product pd-bench)"; exit 1; }

failures=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_ok() {  # name, mpirun arguments...
    local name=$1; shift
    if timeout --kill-after=5 60 mpirun "$@" "$bin" mpi-self-test --rounds 200 >"$log" 2>&1 \
        && grep -q "mpi-self-test: PASS" "$log"; then
        echo "ok   $name: $(grep -c 'collectives ok' "$log") ranks passed; $(grep allGatherAndRestore "$log")"
    else
        echo "FAIL $name:"; sed 's/^/    /' "$log" | tail -20; failures=$((failures + 1))
    fi
}

run_ok "2 ranks" -np 2
run_ok "3 ranks (oversubscribed)" -np 3 --oversubscribe

# Rank 1 throws in round 1 while ranks 0 and 2 wait in a collective: MPI_Abort must end the job.
start=$(date +%s)
timeout --kill-after=5 60 mpirun -np 3 --oversubscribe "$bin" mpi-self-test --rounds 200 --fail-rank 1 >"$log" 2>&1
code=$?
elapsed=$(( $(date +%s) - start ))
if [ "$code" -eq 124 ] || [ "$code" -eq 137 ]; then
    echo "FAIL failing rank: job hung (killed by timeout after ${elapsed}s)"; failures=$((failures + 1))
elif [ "$code" -eq 0 ]; then
    echo "FAIL failing rank: job exited 0 although rank 1 failed"; failures=$((failures + 1))
elif ! grep -q "rank 1 of 3 FAILED" "$log"; then
    echo "FAIL failing rank: exit $code but no message naming rank 1:"; sed 's/^/    /' "$log" | tail -20
    failures=$((failures + 1))
else
    echo "ok   failing rank ended the job: exit $code after ${elapsed}s ($(grep -m1 'FAILED' "$log"))"
fi

[ "$failures" -eq 0 ] && echo "mpi-communicator: all checks passed"
[ "$failures" -eq 0 ]
