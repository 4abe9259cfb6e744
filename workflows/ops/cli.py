"""The `shouhu` command: serve (API + scheduler), create the first administrator, demo data, verify.

The API and the scheduler run as child processes (``python -m api.server``: uvicorn with one or several
workers; ``python -m tasks.serve``), so this module
imports neither FastAPI nor Prefect and stops both cleanly together.
"""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from workflows.infra.clock import SystemClock
from workflows.infra.db import make_engine
from workflows.infra.keys import SigningKeys
from workflows.infra.models import Case, User
from workflows.infra.settings import REPO_ROOT, Settings
from workflows.ops import bootstrap, wiring
from workflows.people import accounts
from workflows.people.access import SYSTEM


def _settings(demo: bool) -> Settings:
    if demo:
        os.environ["SHOUHU_DEMO"] = "true"
        data_dir = Path(os.environ.get("SHOUHU_DATA_DIR") or Settings.model_fields["data_dir"].default)
        os.environ.setdefault("SHOUHU_DATABASE_URL", f"sqlite:///{data_dir / 'demo.db'}")
    try:
        return Settings()
    except ValueError as exc:
        sys.exit(f"配置错误：{exc}")


def cmd_serve(args: argparse.Namespace) -> int:
    """Prepare the database, then run the API and the scheduler until interrupted."""
    settings = _settings(args.demo)
    engine = make_engine(settings.database_url)
    results = bootstrap.prepare(engine, bpmn_dir=settings.bpmn_dir, clock=SystemClock())
    for result in results:
        if result.action != "unchanged":
            print(
                f"流程 {result.key}: {'已发布' if result.action == 'published' else '已登记为草稿'} (版本 {result.version_id})"
            )
    if settings.demo:
        from workflows.ops import demo

        with Session(engine) as session:
            passwords = demo.ensure(session, settings=settings)
            session.commit()
        demo.print_accounts(passwords)
    engine.dispose()
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    children = [subprocess.Popen(api_command(args, settings), cwd=REPO_ROOT, env=env)]
    if not args.no_scheduler and (REPO_ROOT / "tasks" / "serve.py").is_file():
        children.append(subprocess.Popen([sys.executable, "-m", "tasks.serve"], cwd=REPO_ROOT, env=env))
    print(
        f"守护 Shouhu 已启动：http://{args.host or settings.host}:{args.port or settings.port}/ （API 文档 /docs）。按 Ctrl+C 停止。"
    )
    return _supervise(children)


def api_command(args: argparse.Namespace, settings: Settings) -> list[str]:
    """The API's process: ``python -m api.server`` with the serve command's host, port, workers and log."""
    command = [sys.executable, "-m", "api.server", "--host", args.host or settings.host]
    command += ["--port", str(args.port or settings.port), "--workers", str(args.workers)]
    return command + (["--no-access-log"] if args.no_access_log else [])


def _supervise(children: list[subprocess.Popen[bytes]]) -> int:
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping:
        for child in children:
            if child.poll() is not None:
                code, stopping = child.returncode or 0, True
        time.sleep(0.3)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
    print("守护 Shouhu 已停止。")
    return code


def cmd_create_admin(args: argparse.Namespace) -> int:
    """Create the first user administrator on a fresh install (refused once one exists)."""
    settings = _settings(False)
    engine = make_engine(settings.database_url)
    bootstrap.prepare(engine, bpmn_dir=settings.bpmn_dir, clock=SystemClock())
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("新管理员密码：")
    with Session(engine) as session:
        admins = [u for u in session.scalars(select(User)) if "user_admin" in u.roles]
        if admins and not args.force:
            sys.exit("已存在账号管理员；请用已有管理员账号创建新账号（或加 --force）。")
        user = accounts.create_user(
            session=session,
            clock=SystemClock(),
            actor=SYSTEM,
            username=args.username,
            display_name=args.name,
            roles=["user_admin", "process_admin"],
            jurisdiction_code=args.jurisdiction,
            password=password,
            certified=True,
        )
        session.commit()
        print(f"已创建管理员 {user.username}（辖区 {user.jurisdiction_code}）。")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the schema up to date and register bundled models once, before starting several API workers."""
    settings = _settings(args.demo)
    results = bootstrap.prepare(
        make_engine(settings.database_url), bpmn_dir=settings.bpmn_dir, clock=SystemClock()
    )
    print(f"数据库已是最新结构；已登记 {len(results)} 个内置流程。")
    return 0


def _keys(settings: Settings, *, required: bool) -> SigningKeys | None:
    from workflows.infra import keys

    try:
        return keys.load(settings)
    except keys.KeyMissing as exc:
        if required:
            sys.exit(exc.message)
        return None
    except ValueError as exc:
        sys.exit(f"检查点密钥无法读取：{exc}")


def cmd_verify_all(args: argparse.Namespace) -> int:
    """Verify every case and the latest signed checkpoint; exit 1 if anything fails."""
    from workflows.ops.audit import verify_all

    if args.jobs > 1 and not args.chain_only:
        sys.exit("--jobs 只与 --chain-only 一起使用（完整核验逐案重放，在一个进程中进行）")
    settings = _settings(args.demo)
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        keys = _keys(settings, required=False)
        result = verify_all(session, keys, chain_only=args.chain_only, jobs=max(1, args.jobs))
    for line in result.lines():
        print(line)
    return 0 if result.ok else 1


def cmd_recount_overview(args: argparse.Namespace) -> int:
    """Rebuild the overview's running-case counts from the cases (when verify-all finds them off)."""
    from workflows.infra import place_counts

    engine = make_engine(_settings(args.demo).database_url)
    with engine.begin() as connection:
        before = place_counts.recount(connection)
    print(f"已按案件重算概览计数：{len(before)} 处原先不符。")
    return 0


def cmd_checkpoint(args: argparse.Namespace) -> int:
    """Record a signed checkpoint of every case log's head now."""
    from workflows.log import checkpoints

    settings = _settings(args.demo)
    keys = _keys(settings, required=True)
    assert keys is not None
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        cp = checkpoints.record(session=session, keys=keys, now=SystemClock().now(), actor="system")
        session.commit()
        print(f"已记录检查点 #{cp.id}：{cp.cases} 个案件，默克尔根 {cp.merkle_root}，密钥 {cp.key_id}。")
    return 0


def cmd_checkpoint_key(args: argparse.Namespace) -> int:
    """Print the public key (to publish for reviewers), or generate a new private key file."""
    from workflows.infra import keys

    if args.new:
        target = Path(args.new)
        if target.exists():
            sys.exit(f"{target} 已存在，不会覆盖。")
        fresh = keys.SigningKeys.generate()
        keys.write_private(target, fresh.private)
        print(
            f"已生成新密钥 {target}（编号 {fresh.key_id}，公钥 {fresh.public_key}）。轮换步骤见 docs/operations.md。"
        )
        return 0
    current = _keys(_settings(args.demo), required=True)
    assert current is not None
    print(f"密钥编号 {current.key_id}\n公钥（base64）{current.public_key}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write the signed export file of one case (by id or business key) for an outside reviewer."""
    from workflows.infra.errors import DomainError
    from workflows.ops.export import export_case

    settings = _settings(args.demo)
    keys = _keys(settings, required=True)
    assert keys is not None
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        case = session.get(Case, args.case) or session.scalar(
            select(Case).where(or_(Case.case_no == args.case, Case.business_key == args.case))
        )
        if case is None:
            sys.exit(f"找不到案件 {args.case}")
        try:
            raw = export_case(session=session, clock=SystemClock(), actor=SYSTEM, keys=keys, case_id=case.id)
        except DomainError as exc:
            sys.exit(exc.message)
        session.commit()
    target = Path(args.out or f"{case.case_no}.shouhu.json")
    target.write_bytes(raw)
    print(f"已导出案件 {case.case_no} 到 {target}（{len(raw)} 字节）。")
    return 0


def cmd_verify_export(args: argparse.Namespace) -> int:
    """Check an export file without a database; exit 1 if any check fails."""
    from workflows.ops.export_check import check_export

    trusted = [Path(k).read_text().strip() if Path(k).is_file() else k for k in args.public_key or []]
    try:
        result = check_export(Path(args.file).read_bytes(), trusted or None)
    except ValueError as exc:
        sys.exit(f"公钥无效：{exc}")
    for note in result.notes:
        print(f"· {note}")
    for problem in result.problems:
        print(f"✗ {problem}")
    print("核验通过：文件完整，未被改动。" if result.ok else "核验失败。")
    return 0 if result.ok else 1


def cmd_backup(args: argparse.Namespace) -> int:
    """Write an online, consistent copy of the SQLite database to PATH."""
    from workflows.infra.errors import DomainError
    from workflows.ops import backup

    settings = _settings(args.demo)
    try:
        result = backup.backup(database_url=settings.database_url, target=Path(args.path))
    except DomainError as exc:
        sys.exit(exc.message)
    print(f"已备份到 {result.path}（{result.bytes} 字节，{result.cases} 个案件）。")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Replace the SQLite database with a backup, then verify every case in it."""
    from workflows.infra.errors import DomainError
    from workflows.ops import backup

    settings = _settings(args.demo)
    if not args.yes:
        sys.exit("恢复会覆盖当前数据库。请先停止 shouhu serve，确认后加 --yes 再执行。")
    try:
        result = backup.restore(source=Path(args.path), database_url=settings.database_url)
    except DomainError as exc:
        sys.exit(exc.message)
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        failed = backup.verify_all(session)
    engine.dispose()
    for report in failed:
        print(f"✗ 案件 {report.case_id}: {report.problem} (事件 #{report.seq})")
    print(
        f"已从 {args.path} 恢复到 {result.path}；核验 {result.cases - len(failed)}/{result.cases} 个案件通过。"
    )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    wiring.install()
    args = build_parser().parse_args(argv)
    return int(args.func(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shouhu", description="守护 Shouhu 儿童保护流程系统")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="启动 API 与调度（定时器、周期任务、通知）")
    serve.add_argument("--demo", action="store_true", help="演示模式：演示数据库、演示账号与案件")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--no-scheduler", action="store_true", help="只启动 API")
    serve.add_argument("--workers", type=int, default=1, help="API 工作进程数（默认 1）")
    serve.add_argument(
        "--no-access-log", action="store_true", help="不输出每个请求的访问日志行（由反向代理记录时）"
    )
    serve.set_defaults(func=cmd_serve)
    admin = sub.add_parser("create-admin", help="在新安装的系统上创建第一个管理员")
    admin.add_argument("--username", required=True)
    admin.add_argument("--name", required=True, help="真实姓名")
    admin.add_argument("--jurisdiction", required=True, help="行政区划代码，如 500111")
    admin.add_argument("--password-stdin", action="store_true")
    admin.add_argument("--force", action="store_true")
    admin.set_defaults(func=cmd_create_admin)
    migrate = sub.add_parser("migrate", help="升级数据库结构并登记内置流程（多进程部署时先运行一次）")
    migrate.add_argument("--demo", action="store_true")
    migrate.set_defaults(func=cmd_migrate)
    verify = sub.add_parser("verify-all", help="核验全部案件的日志与状态")
    verify.add_argument("--demo", action="store_true")
    verify.add_argument(
        "--chain-only", action="store_true", help="只核验每个案件日志的哈希链（不重放流程，快得多）与检查点"
    )
    verify.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="与 --chain-only 同用：分给几个进程同时核验（默认 1；空闲时可取 CPU 核数）",
    )
    verify.set_defaults(func=cmd_verify_all)
    recount = sub.add_parser("recount-overview", help="按运行中的案件重算辖区概览的计数（核验发现不符时）")
    recount.add_argument("--demo", action="store_true")
    recount.set_defaults(func=cmd_recount_overview)
    checkpoint = sub.add_parser("checkpoint", help="立即记录全部案件日志末端的签名检查点")
    checkpoint.add_argument("--demo", action="store_true")
    checkpoint.set_defaults(func=cmd_checkpoint)
    key_cmd = sub.add_parser("checkpoint-key", help="显示检查点公钥（供外部核验），或生成新密钥文件（轮换）")
    key_cmd.add_argument("--new", metavar="PATH", help="生成新私钥到 PATH（不覆盖已有文件）")
    key_cmd.add_argument("--demo", action="store_true")
    key_cmd.set_defaults(func=cmd_checkpoint_key)
    export = sub.add_parser("export", help="导出单个案件的核验文件（供外部审查）")
    export.add_argument("case", help="案件编号（business key）或案件 id")
    export.add_argument("--out", help="输出文件（默认 <案件编号>.shouhu.json）")
    export.add_argument("--demo", action="store_true")
    export.set_defaults(func=cmd_export)
    verify_export = sub.add_parser("verify-export", help="不连数据库核验导出文件")
    verify_export.add_argument("file")
    verify_export.add_argument(
        "--public-key", action="append", help="机构公布的检查点公钥（base64 或文件路径，可多次给出）"
    )
    verify_export.set_defaults(func=cmd_verify_export)
    backup_cmd = sub.add_parser("backup", help="在线备份 SQLite 数据库到文件（服务运行中也可执行）")
    backup_cmd.add_argument("path", help="备份文件路径（不能已存在）")
    backup_cmd.add_argument("--demo", action="store_true")
    backup_cmd.set_defaults(func=cmd_backup)
    restore_cmd = sub.add_parser("restore", help="用备份文件恢复 SQLite 数据库，并核验全部案件（先停止服务）")
    restore_cmd.add_argument("path", help="备份文件路径")
    restore_cmd.add_argument("--yes", action="store_true", help="确认覆盖当前数据库")
    restore_cmd.add_argument("--demo", action="store_true")
    restore_cmd.set_defaults(func=cmd_restore)
    return parser


if __name__ == "__main__":
    sys.exit(main())
