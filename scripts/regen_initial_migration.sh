#!/usr/bin/env bash
# Regenerate 0001 from the models while the schema is unreleased (before the first release,
# later changes get their own revisions: `alembic revision --autogenerate`).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f worker/store/migrations/versions/0001_initial_schema.py /tmp/ww_autogen.db
.venv/bin/python -c "
from alembic import command
from worker.store.db import alembic_config
command.revision(alembic_config('sqlite:////tmp/ww_autogen.db'), message='initial schema', autogenerate=True, rev_id='0001')
"
sed -i 's/worker\.store\.models\.UTCDateTime(timezone=True)/sa.DateTime(timezone=True)/g' worker/store/migrations/versions/0001_initial_schema.py
