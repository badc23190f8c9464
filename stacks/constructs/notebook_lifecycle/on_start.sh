#!/bin/bash
# Mysfits notebook on-start: idle auto-stop through a systemd timer, and the stack's names for the notebook.
# Runs as root on every start; writes files only, downloads nothing, and finishes in seconds.
set -euo pipefail

install -d -m 0755 /usr/local/lib/mysfits
cat > /usr/local/lib/mysfits/autostop.py <<'MYSFITS_AUTOSTOP'
@@AUTOSTOP_PY@@
MYSFITS_AUTOSTOP

cat > /etc/systemd/system/mysfits-autostop.service <<'UNIT'
[Unit]
Description=Stop this SageMaker notebook instance when Jupyter has been idle

[Service]
Type=oneshot
ExecStart=/usr/bin/python3 /usr/local/lib/mysfits/autostop.py --idle-minutes @@IDLE_MINUTES@@ --notebook-name @@NOTEBOOK_NAME@@ --region @@REGION@@
UNIT

cat > /etc/systemd/system/mysfits-autostop.timer <<'UNIT'
[Unit]
Description=Check every 5 minutes whether the notebook instance is idle

[Timer]
OnBootSec=10min
OnUnitActiveSec=5min

[Install]
WantedBy=timers.target
UNIT

systemctl daemon-reload
systemctl enable --now mysfits-autostop.timer

# The notebook reads these in "sagemaker" mode, so nobody copies stack outputs by hand.
cat > /home/ec2-user/SageMaker/.mysfits-stack.json <<'JSON'
{"region": "@@REGION@@", "artifactsBucket": "@@ARTIFACTS_BUCKET@@", "roleArn": "@@ROLE_ARN@@", "endpointName": "@@ENDPOINT_NAME@@", "namePrefix": "@@NAME_PREFIX@@"}
JSON
chown ec2-user:ec2-user /home/ec2-user/SageMaker/.mysfits-stack.json
