"""fallback-to-database's preflight tells a missing jobs table from other failures."""

from __future__ import annotations

import pytest

from queueops.runbooks.host_fallback import missing_table

# `php artisan queue:monitor database:default` without a jobs table, as printed (no
# terminal: Symfony's error box is 80 columns wide).
MARIADB = """
In Connection.php line 712:

  SQLSTATE[42S02]: Base table or view not found: 1146 Table 'app.jobs' doesn'
  t exist (SQL: select count(*) as aggregate from `jobs` where `queue` = defa
  ult)
"""
POSTGRESQL = """
In Connection.php line 712:

  SQLSTATE[42P01]: Undefined table: 7 ERROR:  relation "jobs" does not exist
  LINE 1: select count(*) as aggregate from "jobs" where "queue" = $1
"""
SQLITE = """
In Connection.php line 712:

  SQLSTATE[HY000]: General error: 1 no such table: jobs (SQL: select count(*)
   as aggregate from "jobs" where "queue" = default)
"""
REFUSED = """
In Connection.php line 712:

  SQLSTATE[HY000] [1045] Access denied for user 'app'@'127.0.0.1' (using pass
  word: YES) (SQL: select count(*) as aggregate from `jobs` where `queue` = d
  efault)
"""


@pytest.mark.parametrize("output", [MARIADB, POSTGRESQL, SQLITE])
def test_a_missing_table_is_recognised_however_the_error_box_wraps(output: str) -> None:
    assert missing_table(output)


def test_another_database_error_is_not_a_missing_table() -> None:
    assert not missing_table(REFUSED)
