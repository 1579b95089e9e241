"""Who gets what: the refusal pages in the browser, the routes' documented status codes, and a
client bundle that no secret can reach."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Browser, expect

from tests.browser.conftest import BUILD_SECRETS, NOT_OPERATOR, OPERATOR, TEST_DIST, PanelStack
from tests.harness import ean13
from worker.offline.panel import WEB_DIR
from worker.offline.postgrest import StandInUser


@pytest.fixture(scope="module")
async def product_id(stack: PanelStack) -> str:
    conn = await asyncpg.connect(stack.db.dsn)
    try:
        return str(
            await conn.fetchval(
                "insert into public.products (name, brand, ean) values ('Café torrado 500g', 'Pilão', $1)"
                " returning id::text",
                ean13(777),
            )
        )
    finally:
        await conn.close()


async def call(
    stack: PanelStack, method: str, path: str, user: StandInUser | None, body: Any = None
) -> tuple[int, Any]:
    cookies = {}
    if user is not None:
        cookie = stack.cookie(user)
        cookies[cookie["name"]] = cookie["value"]
    async with (
        aiohttp.ClientSession(cookies=cookies) as http,
        http.request(method, f"{stack.url}{path}", json=body) as response,
    ):
        return response.status, await response.json()


ROUTES = [
    ("POST", "/api/imagefill/backfill?limit=50", None),
    ("GET", "/api/imagefill/review", None),
    ("POST", "/api/imagefill/approve", {"product_id": str(uuid.uuid4()), "url": "https://example.com/a.jpg"}),
    ("POST", "/api/imagefill/reject", {"product_id": str(uuid.uuid4()), "reason": "não é o produto"}),
    ("POST", "/api/imagefill/browser-search", {"product_id": str(uuid.uuid4())}),
    ("GET", "/api/imagefill/progress", None),
    ("GET", "/api/imagefill/audit", None),
    ("GET", "/api/imagefill/audit-figures", None),
    ("POST", "/api/imagefill/audit-confirm", {"approval_id": 1}),
    ("POST", "/api/imagefill/audit-undo", {"approval_id": 1}),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_routes_refuse_an_anonymous_caller_with_401(
    stack: PanelStack, method: str, path: str, body: Any
) -> None:
    status, answer = await call(stack, method, path, None, body)
    assert status == 401
    assert "Entre com a sua conta" in answer["error"]["message"]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_routes_refuse_a_non_operator_with_403(
    stack: PanelStack, method: str, path: str, body: Any
) -> None:
    status, answer = await call(stack, method, path, NOT_OPERATOR, body)
    assert status == 403
    assert answer["error"]["code"] == "42501"
    assert answer["error"]["message"].startswith("Acesso negado")


async def test_routes_answer_bad_input_with_400_and_the_rpc_message(
    stack: PanelStack, product_id: str
) -> None:
    status, answer = await call(stack, "POST", "/api/imagefill/backfill?limit=0", OPERATOR)
    assert (status, answer["error"]["code"]) == (400, "22023")
    assert "p_limit deve estar entre 1 e 10000" in answer["error"]["message"]

    status, answer = await call(stack, "POST", "/api/imagefill/backfill?limit=muitos", OPERATOR)
    assert status == 400 and "limit deve ser um número inteiro" in answer["error"]["message"]

    status, answer = await call(
        stack,
        "POST",
        "/api/imagefill/approve",
        OPERATOR,
        {"product_id": product_id, "url": "javascript:alert(1)"},
    )
    assert status == 400 and "URL de imagem inválida" in answer["error"]["message"]

    status, answer = await call(
        stack, "POST", "/api/imagefill/reject", OPERATOR, {"product_id": product_id, "reason": "  "}
    )
    assert status == 400 and "Informe o motivo da rejeição" in answer["error"]["message"]

    status, answer = await call(
        stack,
        "POST",
        "/api/imagefill/approve",
        OPERATOR,
        {"product_id": "não-é-um-uuid", "url": "https://x.com/a.jpg"},
    )
    assert (status, answer["error"]["code"]) == (400, "22P02")

    status, answer = await call(stack, "POST", "/api/imagefill/approve", OPERATOR, ["not", "an", "object"])
    assert status == 400 and "objeto JSON" in answer["error"]["message"]


async def test_routes_answer_404_for_an_unknown_product(stack: PanelStack) -> None:
    missing = str(uuid.uuid4())
    status, answer = await call(
        stack,
        "POST",
        "/api/imagefill/approve",
        OPERATOR,
        {"product_id": missing, "url": "https://x.com/a.jpg"},
    )
    assert status == 404
    assert answer["error"]["message"] == f"Produto {missing} não encontrado."


async def test_routes_answer_200_for_an_operator(stack: PanelStack, product_id: str) -> None:
    status, answer = await call(stack, "POST", "/api/imagefill/backfill?limit=5", OPERATOR)
    assert status == 200
    assert answer["enqueued"] == 1 and answer["batch_id"]
    assert answer["still_running"] == 1 and answer["processed"] == 0  # no worker runs in this module

    status, answer = await call(stack, "GET", "/api/imagefill/review?limit=5", OPERATOR)
    assert status == 200 and answer == {"items": [], "total": 0}

    status, answer = await call(
        stack, "POST", "/api/imagefill/reject", OPERATOR, {"product_id": product_id, "reason": "foto errada"}
    )
    assert status == 200 and answer["product_id"] == product_id


async def test_an_anonymous_visitor_and_a_non_operator_see_a_clear_refusal(
    stack: PanelStack, browser: Browser
) -> None:
    for user, title, text in [
        (None, "Entre para revisar imagens", "só para usuários com sessão ativa"),
        (NOT_OPERATOR, "Acesso negado", "sua conta não pode revisar imagens de produtos"),
    ]:
        context = await stack.context(browser, user)
        page = await context.new_page()
        await page.goto(f"{stack.url}/monitoramento")
        refusal = page.locator(".recusa")
        await expect(refusal.get_by_role("heading")).to_have_text(title)
        await expect(refusal).to_contain_text(text)
        await expect(page.get_by_role("button", name="Backfill imagens")).to_have_count(0)
        await context.close()


async def test_an_operator_signs_in_with_the_login_form(stack: PanelStack, browser: Browser) -> None:
    context = await stack.context(browser, None)
    page = await context.new_page()
    await page.goto(f"{stack.url}/login")
    await page.get_by_label("E-mail").fill(OPERATOR.email)
    await page.get_by_label("Senha").fill("senha errada")
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.locator(".login .erro")).to_have_text("E-mail ou senha incorretos.")
    await page.get_by_label("Senha").fill(OPERATOR.password)
    await page.get_by_role("button", name="Entrar").click()
    await expect(page.get_by_role("heading", name="Monitoramento de imagens")).to_be_visible()
    await context.close()


def test_no_secret_and_no_private_env_var_reaches_the_client_bundle(web_build: float) -> None:
    """The build ran with secrets in its environment: none may be in what the browser downloads."""
    static = WEB_DIR / TEST_DIST / "static"
    files = [
        p for p in static.rglob("*") if p.is_file() and p.suffix in {".js", ".css", ".json", ".html", ".map"}
    ]
    bundle = "\n".join(p.read_text(errors="replace") for p in files)
    assert "Backfill imagens" in bundle, "the scan must cover the panel's own client code"
    for name, value in BUILD_SECRETS.items():
        assert value not in bundle, f"{name} reached the client bundle"
        assert name not in bundle, f"the client bundle names {name}"
    # Only NEXT_PUBLIC_ variables may be read by client code.
    for match in {m for m in _env_reads(bundle) if not m.startswith("NEXT_PUBLIC_") and m != "NODE_ENV"}:
        pytest.fail(f"client code reads process.env.{match}")


def _env_reads(bundle: str) -> set[str]:
    import re

    return set(re.findall(r"process\.env\.([A-Z_][A-Z0-9_]*)", bundle))
