"""The PM2 reload that runs on the node, through PM2's API or its CLI.

``pm2 reload <ecosystem> --update-env`` followed by ``pm2 jlist`` starts
Node.js and loads PM2 twice, about 0.15 s of CPU each. One Node.js process
that requires the node's own PM2 package does both for the cost of one. It
calls ``reload(ecosystem, {updateEnv: true})``, the call behind the CLI
command (lib/binaries/CLI.js of PM2 7.0.4), which also starts the
ecosystem's apps that are not running. Then it reads the process list.

``force`` skips PM2's reload lock, which rejects a reload for 30 s after one
that did not finish, such as one cut off by a command timeout. The
``pm2 startOrReload`` command used before took no lock either. When
``pm2_bin`` does not lead to a PM2 package (a wrapper script, for example),
the command runs ``pm2 startOrReload`` and ``pm2 jlist`` as before.

Either way the command prints a JSON array of processes with ``name`` and
``pm2_env.exec_mode`` on stdout and names the path taken on stderr.
"""

from __future__ import annotations

import shlex

# Arguments: PM2 package directory, ecosystem file. PM2_HOME comes from the
# environment and must be set before require(), which reads it.
_API_RELOAD = """
const [pm2Root, ecosystem] = process.argv.slice(1);
const pm2 = require(pm2Root);
const fail = (step, error) => {
  console.error(`pm2 ${step} failed: ${(error && error.message) || error}`);
  process.exit(1);
};
pm2.connect((error) => {
  if (error) fail('connect', error);
  pm2.reload(ecosystem, { updateEnv: true, force: true }, (error) => {
    if (error) fail('reload', error);
    pm2.list((error, processes) => {
      if (error) fail('list', error);
      const rows = processes.map((proc) => ({
        name: proc.name,
        pm2_env: { exec_mode: proc.pm2_env && proc.pm2_env.exec_mode },
      }));
      process.stdout.write(JSON.stringify(rows) + '\\n');
      pm2.disconnect(() => process.exit(0));
    });
  });
});
"""

# Marker lines on stderr that name the path taken.
RELOAD_MARKER_PREFIX = "pm2: reload through "
API_MARKER = f"{RELOAD_MARKER_PREFIX}the PM2 API"
CLI_MARKER = f"{RELOAD_MARKER_PREFIX}the pm2 CLI"


def reload_command(pm2_home_export: str, pm2_bin: str, ecosystem: str) -> str:
    """Return the shell command that reloads ``ecosystem`` and lists processes.

    Args:
        pm2_home_export: ``export PM2_HOME=...``, already quoted.
        pm2_bin: The pm2 executable on the node, usually
            ``<package>/bin/pm2`` or a link to it.
        ecosystem: Absolute path of the ecosystem file.
    """
    pm2 = shlex.quote(pm2_bin)
    quoted_ecosystem = shlex.quote(ecosystem)
    api = f'node -e {shlex.quote(_API_RELOAD)} "$pm2_root" {quoted_ecosystem}'
    return (
        f"{pm2_home_export}; "
        # command -v finds a bare name on PATH, where readlink -f alone would
        # resolve it against the working directory.
        f"pm2_root=; if pm2_path=$(command -v {pm2}); then "
        f'pm2_root=$(dirname "$(dirname "$(readlink -f "$pm2_path")")"); fi; '
        f'if [ -n "$pm2_root" ] && [ -f "$pm2_root/lib/API.js" ] && '
        f'[ -f "$pm2_root/index.js" ]; then '
        f"echo {shlex.quote(API_MARKER)} >&2; {api}; "
        f"else echo {shlex.quote(CLI_MARKER)} >&2; "
        f"{pm2} startOrReload {quoted_ecosystem} --update-env >&2 && {pm2} jlist; fi"
    )
