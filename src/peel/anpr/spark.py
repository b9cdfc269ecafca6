"""The ANPR searches on Apache Spark: the same SQL and scoring as DuckDB, for national volumes.

pyspark is an optional dependency (``pip install peel[spark]``) and is imported only when a
Spark engine is made. A :class:`SparkEngine` runs each search in a fresh session of the given
Spark application (its own temporary views and UTC time zone), over the same Parquet files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from peel.anpr import dialect as sql
from peel.anpr.dialect import ParquetFile, ReadFiles, ReadStoreLike, Source, used_params
from peel.anpr.store import READ_SCHEMA

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_SPARK_TYPES = {
    pa.string(): "STRING",
    pa.large_string(): "STRING",
    pa.int64(): "BIGINT",
    pa.int32(): "INT",
    pa.float64(): "DOUBLE",
    pa.float32(): "FLOAT",
    pa.bool_(): "BOOLEAN",
}


def spark_ddl(schema: pa.Schema) -> str:
    """A Spark DDL schema string for an Arrow schema of simple columns."""
    columns = []
    for f in schema:
        if pa.types.is_timestamp(f.type):
            columns.append(f"`{f.name}` TIMESTAMP")
        else:
            columns.append(f"`{f.name}` {_SPARK_TYPES[f.type]}")
    return ", ".join(columns)


def local_spark(app_name: str = "peel-anpr", cores: int = 2) -> SparkSession:
    """A Spark application in this process's machine: no web UI, UTC, bound to loopback."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(cores))
        .config("spark.default.parallelism", str(cores))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.adaptive.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class SparkEngine:
    """Searches on Spark: each search gets a new session sharing the application."""

    dialect: sql.Dialect = sql.SPARK

    def __init__(self, store: ReadStoreLike, spark: SparkSession) -> None:
        self.store = store
        self.spark = spark

    def run(
        self, statements: Sequence[str], params: Mapping[str, Any], sources: Mapping[str, Source]
    ) -> list[list[tuple[Any, ...]]]:
        session = self.spark.newSession()
        session.conf.set("spark.sql.session.timeZone", "UTC")
        for name, source in sources.items():
            self._attach(session, name, source)
        try:
            return [
                [tuple(row) for row in session.sql(s, args=used_params(s, params)).collect()]
                for s in statements
            ]
        finally:  # dropping a temporary view also frees its cache (``CACHE TABLE``)
            for table in session.catalog.listTables():
                if table.isTemporary:
                    session.catalog.dropTempView(table.name)

    def _attach(self, session: SparkSession, name: str, source: Source) -> None:
        if isinstance(source, ReadFiles):
            scan = f"_scan_{name}"
            if source.files:
                frame = session.read.schema(spark_ddl(READ_SCHEMA)).parquet(*source.files)
            else:
                frame = _frame(session, READ_SCHEMA.empty_table())
            frame.createOrReplaceTempView(scan)
            view = sql.reads_view_sql(self.dialect, scan)
            session.sql(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {view}")
        elif isinstance(source, ParquetFile):
            if source.path.is_file():
                frame = session.read.schema(spark_ddl(source.schema)).parquet(str(source.path))
            else:
                frame = _frame(session, source.schema.empty_table())
            frame.createOrReplaceTempView(name)
        else:
            _frame(session, source).createOrReplaceTempView(name)


def _frame(session: SparkSession, table: pa.Table) -> DataFrame:
    """A small Arrow table as a Spark DataFrame (row by row: no pandas needed)."""
    rows = [tuple(r.values()) for r in table.to_pylist()]
    return session.createDataFrame(rows, schema=spark_ddl(table.schema))
