"""Reading PostgreSQL tables as leads and events: column types and values."""

from __future__ import annotations

import math

import pyarrow as pa
from sqlalchemy import create_engine

from leadq.inputs.database import read_postgres_table


def test_float_columns_read_as_doubles(postgres_url):
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE TABLE numbers (d DOUBLE PRECISION, r REAL, n NUMERIC, i INTEGER)"
            )
            connection.exec_driver_sql(
                "INSERT INTO numbers VALUES (1.5, 2.5, 3.5, 4), ('-Infinity', 'Infinity', 'NaN', NULL)"
            )
        source = read_postgres_table(postgres_url, "numbers")
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE numbers")
        engine.dispose()

    schema = source.table.schema
    assert [schema.field(name).type for name in "drni"] == [pa.float64()] * 3 + [pa.int64()]
    first, second = source.table.to_pylist()
    assert first == {"d": 1.5, "r": 2.5, "n": 3.5, "i": 4}
    assert second["d"] == -math.inf
    assert second["r"] == math.inf
    assert math.isnan(second["n"])
