#!/usr/bin/env bash
# Checks that every tracked C++ file (*.cc, *.h) is formatted as .clang-format
# says. Prints the files that are not and exits 1; exits 0 when all are;
# exits 2 when clang-format is missing. Changes nothing.
#   scripts/check-format.sh            (CLANG_FORMAT=clang-format-15 to pick one)
set -euo pipefail
cd "$(dirname "$0")/.."

clang_format=${CLANG_FORMAT:-clang-format}
if ! command -v "$clang_format" >/dev/null 2>&1; then
  echo "check-format: $clang_format not found (apt-get install clang-format)" >&2
  exit 2
fi

unformatted=()
while IFS= read -r -d '' file; do
  if ! "$clang_format" --dry-run --Werror --style=file "$file" \
      >/dev/null 2>&1; then
    unformatted+=("$file")
  fi
done < <(git ls-files -z -- '*.cc' '*.h')

if ((${#unformatted[@]} > 0)); then
  echo "check-format: ${#unformatted[@]} file(s) differ from .clang-format" \
       "($("$clang_format" --version)):" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  echo "fix with: $clang_format -i ${unformatted[*]}" >&2
  exit 1
fi
echo "check-format: all tracked C++ files are formatted"
