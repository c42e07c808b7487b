#!/usr/bin/env bash
# Rebuilds the test programs and their expected outputs.
#
#   tests/programs/build.sh          # from anywhere
#
# For each PROGRAM.c here:
#   * PROGRAM.wasm  - clang --target=wasm32-wasi with Debian's wasi-libc
#                     (committed, so `cargo test` needs no compiler);
#   * a native build with gcc (in a temporary folder, not kept).
# Then for each case in cases.txt it runs the NATIVE build, in a fresh empty
# working directory, with exactly the case's environment (`env -i`), stdin
# and arguments, and records expected/CASE.stdout and expected/CASE.status.
# The expected output therefore comes from the native build, never from
# kiln; tests/programs.rs checks that kiln gives the same.
#
# Needs: apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32 gcc
# (Debian's wasi-libc installs its sysroot under /usr: headers in
# /usr/include/wasm32-wasi, libraries in /usr/lib/wasm32-wasi.)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

CFLAGS=(-O2 -ffp-contract=off -Wall -Wextra -Werror)
native_dir="$(mktemp -d)"
trap 'rm -rf "$native_dir"' EXIT

for src in *.c; do
    prog="${src%.c}"
    echo "building $prog"
    # --strip-debug drops DWARF but keeps the name section, so kiln's trap
    # backtraces still show function names.
    clang --target=wasm32-wasi --sysroot=/usr "${CFLAGS[@]}" -Wl,--strip-debug \
        "$src" -o "$prog.wasm" -lm
    gcc "${CFLAGS[@]}" "$src" -o "$native_dir/$prog" -lm
done

trim() {
    local s="$1"
    s="${s#"${s%%[![:space:]]*}"}"
    s="${s%"${s##*[![:space:]]}"}"
    printf '%s' "$s"
}

mkdir -p expected
rm -f expected/*.stdout expected/*.status
while IFS='|' read -r name prog stdin env args; do
    name="$(trim "$name")"
    [[ -z "$name" || "$name" == \#* ]] && continue
    prog="$(trim "$prog")"
    stdin="$(trim "$stdin")"
    env="$(trim "$env")"
    args="$(trim "$args")"
    # env and args use only single quotes (see cases.txt), which eval reads
    # the same way tests/programs.rs splits them.
    eval "argv=($args)"
    if [[ "$env" == "-" ]]; then envv=(); else eval "envv=($env)"; fi
    if [[ "$stdin" == "-" ]]; then stdin_file=/dev/null; else stdin_file="$here/$stdin"; fi

    work="$(mktemp -d)"
    set +e
    (cd "$work" && env -i "${envv[@]}" "$native_dir/$prog" "${argv[@]}" \
        <"$stdin_file" >"$here/expected/$name.stdout")
    status=$?
    set -e
    rm -rf "$work"
    echo "$status" >"expected/$name.status"
    echo "case $name: exit $status, $(wc -c <"expected/$name.stdout") bytes of stdout"
done <cases.txt
