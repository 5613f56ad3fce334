'use strict';
// PM2 ecosystem of the sample agent node. The node-specific settings (address,
// port, instances, exec mode) live in <app_dir>/shared/app.json, outside the
// release. Script and cwd go through the `current` symlink, so every release
// starts from the same paths and a reload only has to follow the link.
const fs = require('fs');
const path = require('path');

// require() resolves symlinks, so __dirname is <app_dir>/releases/<id>.
const appDir = path.resolve(__dirname, '..', '..');
const shared = JSON.parse(fs.readFileSync(path.join(appDir, 'shared', 'app.json'), 'utf8'));
const current = path.join(appDir, 'current');

module.exports = {
  apps: [
    {
      name: shared.name || 'agent',
      script: path.join(current, 'server.js'),
      cwd: current,
      exec_mode: shared.exec_mode || 'cluster',
      instances: shared.instances || 2,
      wait_ready: true,
      listen_timeout: shared.listen_timeout_ms || 5000,
      kill_timeout: 3000,
      max_restarts: 5,
      env: { HOST: shared.host || '127.0.0.1', PORT: String(shared.port || 8080) },
    },
  ],
};
