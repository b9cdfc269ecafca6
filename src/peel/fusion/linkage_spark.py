"""Person linkage on Apache Spark: the same model and rules as DuckDB, for national volumes.

pyspark is optional (``pip install peel[spark]``) and imported only here. Splink's string
similarity functions (Jaro-Winkler, Damerau-Levenshtein) run on Spark as Java UDFs from a jar
that ships with Splink: :func:`splink_spark_api` adds it to whichever session it is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def similarity_jar() -> str:
    """The path of Splink's jar of similarity functions for this Spark version."""
    from splink.internals.spark.jar_location import similarity_jar_location

    return str(similarity_jar_location())


def linkage_spark_session(cores: int = 2, app_name: str = "peel-linkage") -> SparkSession:
    """A local Spark application able to run the linkage (no web UI, UTC, loopback only)."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(app_name)
        .config("spark.jars", similarity_jar())
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(cores * 2))
        .config("spark.default.parallelism", str(cores))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.adaptive.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def splink_spark_api(spark: Any = None) -> Any:
    """Splink's database API on ``spark`` (a local session is started when none is given).

    Splink's jar is added to the session first (``ADD JAR`` is harmless when it is already
    there), so a session made for other work, without it in ``spark.jars``, serves as well.
    """
    from splink import SparkAPI

    session = spark if spark is not None else linkage_spark_session()
    session.sql(f"ADD JAR '{similarity_jar()}'")
    return SparkAPI(spark_session=session, break_lineage_method="persist")
