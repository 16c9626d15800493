#!/usr/bin/env bash
# A client runs on any x86-64: ClientKit's target closure holds neither Kernels (AVX2 + FMA
# codegen) nor OpenBLAS nor model code, and the release objects of ClientKit and of every target
# it links hold no AVX instruction. CKernels' objects (the per-ISA SIMD variants the model picks at
# run time) are the control: the same scan finds AVX there.
source "$(dirname "$0")/common.bash"
cd "$root"
closure=$(swift package describe --type json | python3 -c '
import json, sys
targets = {t["name"]: t for t in json.load(sys.stdin)["targets"]}
seen, todo = set(), ["ClientKit"]
while todo:
    for d in targets[todo.pop()].get("target_dependencies", []):
        if d not in seen: seen.add(d); todo.append(d)
# Compiled here (system libraries have no objects of ours): marked with a trailing "+".
print(" ".join(n + ("" if targets[n]["type"] == "system-target" else "+") for n in sorted(seen)))')
[ -n "$closure" ] || fail "no target graph"
compiled=$(for t in $closure; do case $t in *+) echo "${t%+}";; esac; done)
closure=${closure//+/}
for banned in Kernels CKernels COpenBLAS Tensors DeepSeekModel Engine; do
  case " $closure " in *" $banned "*) fail "ClientKit depends on $banned (closure: $closure)";; esac
done
avx_count() {  # MODULE: AVX/VEX instructions in its release objects
  local objects=("$bin/$1.build"/*.o)
  [ -e "${objects[0]}" ] || fail "no release objects for $1 in $bin"
  objdump -d --no-show-raw-insn "${objects[@]}" | grep -cE '%ymm|%zmm|vfmadd|\bv(mov|add|mul|sub|xor|broadcast|perm)[a-z0-9]*\b' || true
}
[ "$(avx_count CKernels)" -gt 0 ] || fail "control: the scan finds no AVX in CKernels"
for module in ClientKit $compiled; do
  n=$(avx_count "$module")
  [ "$n" -eq 0 ] || fail "$module holds $n AVX instructions"
done
echo "ok: ClientKit links only $closure; no AVX instruction in ClientKit $(echo $compiled) (CKernels: $(avx_count CKernels))"
