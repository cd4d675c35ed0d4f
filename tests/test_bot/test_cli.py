"""The ``zhaoren`` command as a person runs it: a real subprocess, real stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.assembly import Brain

PROJECT = Path(__file__).resolve().parents[2]


def run(args: list[str], env: dict[str, str], stdin: str = "", timeout: float = 120) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=PROJECT,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def env_for(tmp_path: Path, model_cache: Path) -> dict[str, str]:
    return {
        "ZHAOREN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "ZHAOREN_CACHE_DIR": str(model_cache),
    }


def test_chat_runs_a_whole_intake_in_the_terminal(
    tmp_path: Path, model_cache: Path, brain: Brain
) -> None:
    lines = [
        "低保怎么申请",
        "我和老伴两个人,都七十多了,每月退休金加起来两千多,住在长宁区新华路",
        "1",  # the first button of the assistance question: 没有
        "老伴住院了医药费付不起",
        "比较急",
        "13812345678 我姓王",
        "1",  # 对,没问题
        "1",  # 同意 (caseworker)
        "2",  # 不同意 (charity)
    ]
    out = run(["chat"], env_for(tmp_path, model_cache), "\n".join(lines) + "\n")
    assert "来源:《" in out
    assert "[1] 没有" in out
    assert "138****5678" in out
    assert "已登记,编号 L-" in out
    assert "13812345678" not in out.split("您:")[-1]


def test_each_chat_run_is_a_new_resident(tmp_path: Path, model_cache: Path, brain: Brain) -> None:
    # Two people at one terminal: the second must not land in the first one's report.
    env = env_for(tmp_path, model_cache)
    first = run(["chat"], env, "帮我登记\n")
    assert "您住在哪个区" in first
    second = run(["chat"], env, "取消\n")
    assert "现在没有进行中的登记" in second


def test_user_add_prints_a_token_once_and_refuses_a_duplicate(
    tmp_path: Path, model_cache: Path
) -> None:
    env = env_for(tmp_path, model_cache)
    out = run(["user", "add", "李顾问", "--role", "caseworker", "--district", "长宁区"], env)
    assert "caseworker '李顾问' for 长宁区" in out
    token = out.strip().splitlines()[-1]
    assert len(token) >= 32
    again = subprocess.run(
        [sys.executable, "-m", "bot.cli", "user", "add", "李顾问", "--role", "caseworker"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=PROJECT,
        timeout=120,
        check=False,
    )
    assert again.returncode == 1 and "already exists" in again.stderr


def test_nlu_test_works_on_any_rasa_dataset(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    weather = ["明天下雨吗", "今天天气好吗", "会不会下雪", "外面冷不冷", "要带伞吗", "刮风吗"]
    music = ["放首歌", "来点音乐", "播放周杰伦", "换一首", "大声点放歌", "有什么好听的歌"]
    (data / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: weather\n  examples: |\n'
        + "".join(f"    - {t}\n" for t in weather)
        + "- intent: music\n  examples: |\n"
        + "".join(f"    - {t}\n" for t in music),
        encoding="utf-8",
    )
    report = tmp_path / "report.txt"
    env = {"ZHAOREN_NLU_DATA": str(data), "ZHAOREN_CACHE_DIR": str(tmp_path / "cache")}
    out = run(["nlu", "test", "--folds", "3", "--out", str(report)], env)
    assert "3-fold cross-validation: 12 examples" in out
    assert "weather" in report.read_text(encoding="utf-8")
    trained = run(["train"], env)
    assert "NLU trained: 12 examples, 2 intents" in trained
    cached = run(["train"], env)
    assert "already up to date (cached)" in cached
