"""The health poll that runs on the node: curl when present, else Node.js.

Both poll the health URL until it returns the expected release id or the
deadline passes, so the check needs no route from the deployer to the app
port. On success they print the response body and exit 0. On a timeout they
print the last failure on stderr and exit 3. An empty expected id accepts any
2xx response (the status check).

curl and a shell loop cost a few milliseconds of CPU per poll, against about
0.1 s to start Node.js. The curl loop needs ``date +%s%3N`` (GNU coreutils and
BusyBox) and ``sleep`` with fractions of a second, and the command falls back
to Node.js 18+ (``fetch``) when either check fails.
"""

from __future__ import annotations

import shlex

# Exit status of either poll when the deadline passes.
TIMEOUT_STATUS = 3

# Arguments: URL, expected release id, deadline in ms, interval in seconds.
# -q (first, or curl ignores it) skips ~/.curlrc, and --noproxy '*' ignores
# http_proxy, as Node.js 20's fetch does, so both polls reach the same URL.
# The poll passes when any "release" string value in the body equals the
# expected id, nested keys included. The deployer parses the body again as
# JSON and checks the top-level "release".
_CURL_LOOP = r"""
url=$1 expected=$2 interval=$4
deadline=$(( $(date +%s%3N) + $3 ))
newline='
'
last='no answer'
while :; do
  if output=$(curl -q --noproxy '*' -sS --max-time 2 -w "$newline%{http_code}" \
      "$url" 2>&1); then
    code=${output##*$newline}
    body=${output%$newline*}
    last="HTTP $code: $(printf '%s' "$body" | head -c 200)"
    case $code in
      2??)
        releases=$(printf '%s\n' "$body" |
          grep -o '"release"[[:space:]]*:[[:space:]]*"[^"\\]*"' |
          sed 's/.*"\([^"]*\)"$/\1/')
        if [ -z "$expected" ] ||
          printf '%s\n' "$releases" | grep -qxF -e "$expected"; then
          printf '%s\n' "$body"
          exit 0
        fi
        release=$(printf '%s\n' "$releases" | head -n 1)
        last="release \"$release\" answered, expected $expected"
        ;;
    esac
  else
    last=$(printf '%s\n' "$output" | grep -m 1 '^curl:' || echo "curl failed")
  fi
  if [ "$(date +%s%3N)" -ge "$deadline" ]; then
    printf '%s\n' "$last" >&2
    exit 3
  fi
  sleep "$interval"
done
"""

# The same loop in Node.js, for nodes without curl. Arguments: URL, expected
# release id, deadline in ms, interval in ms.
_NODE_LOOP = """
const [url, expected, deadlineMs, intervalMs] = process.argv.slice(1);
const deadline = Date.now() + Number(deadlineMs);
let last = 'no answer';
(async () => {
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      const body = await response.text();
      last = `HTTP ${response.status}: ${body.slice(0, 200)}`;
      if (response.ok) {
        const release = JSON.parse(body).release;
        if (!expected || release === expected) {
          console.log(body);
          process.exit(0);
        }
        last = `release ${JSON.stringify(release)} answered, expected ${expected}`;
      }
    } catch (error) {
      last = String((error.cause && error.cause.code) || error.message);
    }
    if (Date.now() >= deadline) {
      console.error(last);
      process.exit(3);
    }
    await new Promise((resolve) => setTimeout(resolve, Number(intervalMs)));
  }
})();
"""


def health_command(
    url: str, expected: str, timeout_seconds: float, interval_seconds: float
) -> str:
    """Return the shell command that polls ``url`` on the node.

    Args:
        url: The health URL, as the node reaches it.
        expected: Release id to wait for; empty accepts any 2xx response.
        timeout_seconds: Time to keep polling; 0 polls once.
        interval_seconds: Pause between two polls.
    """
    timeout_ms = str(int(timeout_seconds * 1000))
    curl_args = [url, expected, timeout_ms, f"{interval_seconds:.3f}"]
    node_args = [url, expected, timeout_ms, str(int(interval_seconds * 1000))]
    curl = _join(["sh", "-c", _CURL_LOOP, "health", *curl_args])
    node = _join(["node", "-e", _NODE_LOOP, *node_args])
    usable = (
        "command -v curl >/dev/null 2>&1 && "
        "date +%s%3N | grep -qx '[0-9][0-9]*' && sleep 0.001 2>/dev/null"
    )
    return f"if {usable}; then {curl}; else {node}; fi"


def _join(parts: list[str]) -> str:
    return " ".join(shlex.quote(part) for part in parts)
