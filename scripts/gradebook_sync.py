"""Copy one submission's grades between nbgrader gradebooks, in one transaction.

The parallel autograder (``autograde_parallel.py``) grades each submission in a
private course with a private SQLite gradebook, then commits the result to the
course's shared gradebook (SQLite or PostgreSQL). This module holds the three
steps, written against nbgrader 0.9's tables (``nbgrader.api.Base``):

1. :func:`assignment_definition`: the rows that define an assignment (its
   course, notebooks, grade/solution/task cells, source cells with their
   checksums, the schema version): what ``nbgrader generate_assignment`` put in
   the gradebook and what ``nbgrader autograde`` reads;
2. :func:`create_gradebook`: a new gradebook holding that definition
   and the students, with the same row ids, so rows move between the two
   unchanged;
3. :func:`submission_rows` reads back what autograde wrote for one student, and
   :func:`commit_submission` writes it into the shared gradebook as nbgrader
   itself would have: the autograder's scores and comments replace the old
   ones, while a grader's manual scores, extra credit, manual comments,
   flags and extensions are kept (a cell with a manual score is marked for
   review, as nbgrader's ``SaveAutoGrades`` does). All in one transaction: the
   gradebook holds the whole new grading or none of it.

:func:`copy_gradebook` copies a whole gradebook into an empty database, e.g. a
course's SQLite file into PostgreSQL:

    python -m scripts.gradebook_sync sqlite:///gradebook.db postgresql+psycopg://...
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from nbgrader.api import Base

T = Base.metadata.tables
DEFINITION_CELL_TABLES = ("grade_cells", "solution_cells", "task_cells")
SUBMISSION_TABLES = ("submitted_assignment", "submitted_notebook", "grade", "comment")

Rows = dict[str, list[dict]]


def engine_for(url: str) -> sa.Engine:
    """An engine for a gradebook URL (SQLite waits up to 60 s for a lock)."""
    if url.startswith("sqlite"):
        return sa.create_engine(url, connect_args={"timeout": 60})
    return sa.create_engine(url, pool_pre_ping=True)


def redact(url: str) -> str:
    """``url`` without its password, to print."""
    return sa.make_url(url).render_as_string(hide_password=True)


def assignment_names(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        names = conn.execute(sa.select(T["assignment"].c.name).order_by("name"))
        return [name for (name,) in names]


def notebook_names(engine: sa.Engine, assignment: str) -> list[str]:
    a_t, n_t = T["assignment"], T["notebook"]
    query = (
        sa.select(n_t.c.name)
        .join(a_t, a_t.c.id == n_t.c.assignment_id)
        .where(a_t.c.name == assignment)
        .order_by(n_t.c.name)
    )
    with engine.connect() as conn:
        return [name for (name,) in conn.execute(query)]


def _rows(conn, table: str, where) -> list[dict]:
    return [dict(r) for r in conn.execute(sa.select(T[table]).where(where)).mappings()]


def _assignment_row(conn, assignment: str) -> dict:
    rows = _rows(conn, "assignment", T["assignment"].c.name == assignment)
    if not rows:
        raise LookupError(
            f"assignment {assignment!r} is not in the gradebook: release it first "
            f"(`nbgrader generate_assignment {assignment}`, or `make release`)"
        )
    return rows[0]


def assignment_definition(engine: sa.Engine, assignment: str) -> Rows:
    """The rows defining ``assignment`` (no student, no submission)."""
    with engine.connect() as conn:
        a = _assignment_row(conn, assignment)
        notebooks = _rows(conn, "notebook", T["notebook"].c.assignment_id == a["id"])
        nb_ids = [n["id"] for n in notebooks]
        cells = _rows(conn, "base_cell", T["base_cell"].c.notebook_id.in_(nb_ids))
        cell_ids = [c["id"] for c in cells]
        out: Rows = {
            "course": _rows(conn, "course", T["course"].c.id == a["course_id"]),
            "assignment": [a],
            "notebook": notebooks,
            "base_cell": cells,
            "source_cell": _rows(
                conn, "source_cell", T["source_cell"].c.notebook_id.in_(nb_ids)
            ),
        }
        for table in DEFINITION_CELL_TABLES:
            out[table] = _rows(conn, table, T[table].c.id.in_(cell_ids))
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version"))
        out["alembic_version"] = [{"version_num": v} for (v,) in version]
    return out


def all_rows(engine: sa.Engine) -> Rows:
    """Every row of a gradebook, table by table (with its schema version)."""
    with engine.connect() as conn:
        out = {
            t.name: [dict(r) for r in conn.execute(sa.select(t)).mappings()]
            for t in Base.metadata.sorted_tables
        }
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version"))
        out["alembic_version"] = [{"version_num": v} for (v,) in version]
    return out


def copy_gradebook(source_url: str, dest_url: str) -> None:
    """Copy a whole gradebook into an empty database (e.g. SQLite to PostgreSQL)."""
    source = engine_for(source_url)
    try:
        rows = all_rows(source)
    finally:
        source.dispose()
    create_gradebook(dest_url, rows, rows["student"])


def students(engine: sa.Engine, ids: Iterable[str]) -> dict[str, dict]:
    """``{id: student row}`` of the students of ``ids`` already in the gradebook."""
    ids = list(ids)
    with engine.connect() as conn:
        rows = _rows(conn, "student", T["student"].c.id.in_(ids)) if ids else []
    return {r["id"]: r for r in rows}


def create_gradebook(url: str, definition: Rows, student_rows=()) -> None:
    """Fill the empty database ``url`` with an assignment's definition and students.

    ``definition`` may hold any of nbgrader's tables (:func:`all_rows` gives a
    whole gradebook).
    """
    engine = engine_for(url)
    try:
        if sa.inspect(engine).get_table_names():
            raise ValueError(
                f"the database {redact(url)} is not empty: give a new database "
                "(e.g. createdb) or drop its tables first"
            )
        Base.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"
                )
            )
            for row in definition["alembic_version"]:
                conn.execute(
                    sa.text("INSERT INTO alembic_version VALUES (:version_num)"), row
                )
            for table in Base.metadata.sorted_tables:
                if table.name == "student":
                    rows = list(student_rows)
                else:
                    rows = definition.get(table.name)
                if rows:
                    conn.execute(table.insert(), rows)
    finally:
        engine.dispose()


def submission_rows(engine: sa.Engine, assignment: str, student: str) -> Rows | None:
    """The rows of ``student``'s submission of ``assignment``, or None if absent."""
    with engine.connect() as conn:
        a = _assignment_row(conn, assignment)
        sub = _rows(
            conn,
            "submitted_assignment",
            (T["submitted_assignment"].c.assignment_id == a["id"])
            & (T["submitted_assignment"].c.student_id == student),
        )
        if not sub:
            return None
        notebooks = _rows(
            conn,
            "submitted_notebook",
            T["submitted_notebook"].c.assignment_id == sub[0]["id"],
        )
        ids = [n["id"] for n in notebooks]
        return {
            "student": _rows(conn, "student", T["student"].c.id == student),
            "submitted_assignment": sub,
            "submitted_notebook": notebooks,
            "grade": _rows(conn, "grade", T["grade"].c.notebook_id.in_(ids)),
            "comment": _rows(conn, "comment", T["comment"].c.notebook_id.in_(ids)),
        }


def submission_timestamp(engine: sa.Engine, assignment: str, student: str):
    """Whether the gradebook has the submission, and its timestamp (or None)."""
    sa_t, a_t = T["submitted_assignment"], T["assignment"]
    query = (
        sa.select(sa_t.c.timestamp)
        .join(a_t, a_t.c.id == sa_t.c.assignment_id)
        .where((a_t.c.name == assignment) & (sa_t.c.student_id == student))
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return (False, None) if row is None else (True, row[0])


def _lock_submission(conn, assignment_id: str, student: str) -> None:
    """Serialise commits of one submission by several coordinators (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"nbgrader-submission/{assignment_id}/{student}"},
        )


def _by(rows, *keys) -> dict:
    return {tuple(r[k] for k in keys): r for r in rows}


def commit_submission(engine: sa.Engine, rows: Rows, scores: bool = True) -> str:
    """Write one graded submission into the gradebook ``engine`` in one transaction.

    ``rows`` come from :func:`submission_rows` of the private gradebook. With
    ``scores=False`` (autograding failed), only make sure the submission exists
    with its timestamp, leaving any earlier grades as they are (as nbgrader
    does). Returns ``"created"`` or ``"updated"``.
    """
    sub = rows["submitted_assignment"][0]
    sa_t, sn_t, g_t, c_t = (T[name] for name in SUBMISSION_TABLES)
    with engine.begin() as conn:
        _lock_submission(conn, sub["assignment_id"], sub["student_id"])
        if not conn.execute(
            sa.select(T["student"].c.id).where(T["student"].c.id == sub["student_id"])
        ).first():
            conn.execute(T["student"].insert(), rows["student"])
        old = _rows(
            conn,
            "submitted_assignment",
            (sa_t.c.assignment_id == sub["assignment_id"])
            & (sa_t.c.student_id == sub["student_id"]),
        )
        if not old:
            for table in SUBMISSION_TABLES:
                if rows[table]:
                    conn.execute(T[table].insert(), rows[table])
            return "created"

        old_sub = old[0]
        conn.execute(
            sa_t.update()
            .where(sa_t.c.id == old_sub["id"])
            .values(timestamp=sub["timestamp"])
        )
        old_nbs = _by(
            _rows(conn, "submitted_notebook", sn_t.c.assignment_id == old_sub["id"]),
            "notebook_id",
        )
        for nb in rows["submitted_notebook"]:
            grades = [g for g in rows["grade"] if g["notebook_id"] == nb["id"]]
            comments = [c for c in rows["comment"] if c["notebook_id"] == nb["id"]]
            old_nb = old_nbs.get((nb["notebook_id"],))
            if old_nb is None:  # a notebook added to the assignment since
                conn.execute(sn_t.insert(), [{**nb, "assignment_id": old_sub["id"]}])
                for table, new in (("grade", grades), ("comment", comments)):
                    if new:
                        conn.execute(T[table].insert(), new)
                continue
            if not scores:
                continue
            conn.execute(
                sn_t.update()
                .where(sn_t.c.id == old_nb["id"])
                .values(
                    late_submission_penalty=nb["late_submission_penalty"],
                    # a grader's flag stays; a tamper flag of this grading is added
                    flagged=bool(old_nb["flagged"] or nb["flagged"]),
                )
            )
            _merge_cells(conn, old_nb["id"], grades, comments)
        return "updated"


def _merge_cells(conn, notebook_id: str, grades, comments) -> None:
    """New auto scores and comments; manual ones kept (review flagged)."""
    g_t, c_t = T["grade"], T["comment"]
    old_grades = _by(_rows(conn, "grade", g_t.c.notebook_id == notebook_id), "cell_id")
    for g in grades:
        old = old_grades.get((g["cell_id"],))
        if old is None:
            conn.execute(g_t.insert(), [{**g, "notebook_id": notebook_id}])
            continue
        review = g["needs_manual_grade"] or old["manual_score"] is not None
        conn.execute(
            g_t.update()
            .where(g_t.c.id == old["id"])
            .values(auto_score=g["auto_score"], needs_manual_grade=review)
        )
    old_comments = _by(
        _rows(conn, "comment", c_t.c.notebook_id == notebook_id), "cell_id"
    )
    for c in comments:
        old = old_comments.get((c["cell_id"],))
        if old is None:
            conn.execute(c_t.insert(), [{**c, "notebook_id": notebook_id}])
        else:
            conn.execute(
                c_t.update()
                .where(c_t.c.id == old["id"])
                .values(auto_comment=c["auto_comment"])
            )


def same_timestamp(a: dt.datetime | None, b: dt.datetime | None) -> bool:
    """Whether two submission timestamps are equal (naive UTC, as nbgrader stores)."""
    if a is None or b is None:
        return a is None and b is None
    strip = lambda t: t.replace(tzinfo=None) if t.tzinfo else t  # noqa: E731
    return strip(a) == strip(b)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="Copy a whole nbgrader gradebook into an empty database, e.g. "
        "to move a course from SQLite to PostgreSQL."
    )
    parser.add_argument("source", help="e.g. sqlite:///gradebook.db")
    parser.add_argument("dest", help="e.g. postgresql+psycopg://USER@HOST/DB")
    args = parser.parse_args(argv)
    try:
        copy_gradebook(args.source, args.dest)
    except ValueError as err:
        parser.error(str(err))
    print(f"copied {redact(args.source)} to {redact(args.dest)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
