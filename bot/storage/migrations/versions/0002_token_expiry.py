"""Staff tokens expire and can be revoked.

Accounts that exist already get 90 days from the migration, so that upgrading locks
nobody out at once.

Revision ID: 0002_token_expiry
Revises: 0001
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0002_token_expiry"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    users = sa.table("users", sa.column("expires_at", sa.DateTime(timezone=True)))
    op.execute(users.update().values(expires_at=datetime.now(UTC) + timedelta(days=90)))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("expires_at")
