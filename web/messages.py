"""UI text of the console shell (login, menu, errors); each surface's module adds its own."""

from __future__ import annotations

from bangfu.i18n import MESSAGES

MESSAGES.update(
    {
        "web.app_name": {"zh": "帮扶销售中台", "en": "Bangfu Hub"},
        "web.menu": {"zh": "菜单", "en": "Menu"},
        "web.logout": {"zh": "退出", "en": "Sign out"},
        "web.footer": {
            "zh": "帮扶销售中台 · 金额单位：元，按分精确记账",
            "en": "Bangfu Hub · amounts in yuan, kept exact to the fen",
        },
        "web.back_home": {"zh": "返回首页", "en": "Back to the start"},
        "web.wan": {"zh": "{value} 万元", "en": "{value} × 10k yuan"},
        "web.login.title": {"zh": "登录", "en": "Sign in"},
        "web.login.intro": {
            "zh": "主播、合作社、运营、县乡帮扶办与采购单位请用分配的账号登录。",
            "en": "Hosts, cooperatives, operators, county offices and purchasing units: sign in with your account.",
        },
        "web.login.name": {"zh": "用户名", "en": "User name"},
        "web.login.password": {"zh": "密码", "en": "Password"},
        "web.login.submit": {"zh": "登录", "en": "Sign in"},
        "web.login.failed": {"zh": "用户名或密码不正确", "en": "Wrong user name or password"},
        "web.login.throttled": {
            "zh": "尝试次数过多，请 {minutes} 分钟后再试",
            "en": "Too many attempts; try again in {minutes} minute(s)",
        },
        "web.error.404": {"zh": "页面不存在，或不在您的查看范围内。", "en": "Not found, or not yours to see."},
        "web.error.403": {"zh": "请求被拒绝：请刷新页面后重试。", "en": "Refused: reload the page and try again."},
        "web.error.500": {
            "zh": "服务器出错，已记录，请稍后再试。",
            "en": "Server error; it was logged. Try again later.",
        },
        "web.error.503": {"zh": "系统繁忙，请稍后刷新。", "en": "Busy right now; reload in a moment."},
        "web.role.admin": {"zh": "管理员", "en": "Administrator"},
        "web.role.operator": {"zh": "电商运营", "en": "Operator"},
        "web.role.host": {"zh": "主播", "en": "Host"},
        "web.role.cooperative": {"zh": "合作社", "en": "Cooperative"},
        "web.role.county": {"zh": "县乡帮扶办", "en": "County office"},
        "web.role.unit": {"zh": "采购单位", "en": "Purchasing unit"},
        "web.serving": {"zh": "控制台：{url}", "en": "Console: {url}"},
        "web.demo_logins": {
            "zh": "演示账号（密码均为 {password}）：",
            "en": "Demo logins (password {password} for all):",
        },
        "web.stop_hint": {"zh": "按 Ctrl-C 停止", "en": "Press Ctrl-C to stop"},
    }
)
