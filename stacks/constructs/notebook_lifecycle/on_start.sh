#!/bin/bash
# Mysfits notebook on-start: idle auto-stop through a systemd timer, and the stack's names for the notebook.
# Runs as root on every start; writes files only, downloads nothing, and finishes in seconds.
# Output goes to CloudWatch Logs: group /aws/sagemaker/NotebookInstances, stream <name>/LifecycleConfigOnStart.
set -euo pipefail

# Empty on the instance; the tests point it at a copy of the Amazon Linux 2023 layout.
ROOT="${MYSFITS_ROOT:-}"

# Amazon Linux 2023's /usr/bin/python3 has no boto3 and systemd's PATH has no `aws`: the auto-stop program
# runs on the first of these that imports boto3: Jupyter's own environment, the conda_python3 kernel's (the
# notebook imports boto3 there), and the system Python last.
PYTHON=""
for candidate in /home/ec2-user/anaconda3/envs/JupyterSystemEnv/bin/python \
    /home/ec2-user/anaconda3/envs/python3/bin/python /usr/bin/python3; do
    if [ -x "$ROOT$candidate" ] && "$ROOT$candidate" -c "import boto3" 2>/dev/null; then
        PYTHON="$candidate"
        break
    fi
done
if [ -z "$PYTHON" ]; then
    echo "mysfits on-start: ERROR: no Python with boto3 on this instance (tried JupyterSystemEnv, python3 and" \
        "/usr/bin/python3), so idle auto-stop cannot work and the instance would bill until stopped by hand." \
        "Stopping the start here; see the README's runbook." >&2
    exit 1
fi
echo "mysfits on-start: idle auto-stop runs on $PYTHON"

install -d -m 0755 "$ROOT/usr/local/lib/mysfits"
cat > "$ROOT/usr/local/lib/mysfits/autostop.py" <<'MYSFITS_AUTOSTOP'
@@AUTOSTOP_PY@@
MYSFITS_AUTOSTOP

install -d -m 0755 "$ROOT/etc/systemd/system"
cat > "$ROOT/etc/systemd/system/mysfits-autostop.service" <<UNIT
[Unit]
Description=Stop this SageMaker notebook instance when Jupyter has been idle

[Service]
Type=oneshot
ExecStart=$PYTHON /usr/local/lib/mysfits/autostop.py --idle-minutes @@IDLE_MINUTES@@ --notebook-name @@NOTEBOOK_NAME@@ --region @@REGION@@
UNIT

cat > "$ROOT/etc/systemd/system/mysfits-autostop.timer" <<'UNIT'
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
cat > "$ROOT/home/ec2-user/SageMaker/.mysfits-stack.json" <<'JSON'
{"region": "@@REGION@@", "artifactsBucket": "@@ARTIFACTS_BUCKET@@", "roleArn": "@@ROLE_ARN@@", "endpointName": "@@ENDPOINT_NAME@@", "namePrefix": "@@NAME_PREFIX@@"}
JSON
chown ec2-user:ec2-user "$ROOT/home/ec2-user/SageMaker/.mysfits-stack.json"
