"""The routers of the bot, in the order the dispatcher asks them: the one place where a
router is registered. The first router with a route whose filters pass answers; events
no router takes get the help text.

A new audience is a new router here. Bound lawyers (``handlers/lawyer.py``, a filter that
looks the user up among the bound lawyer profiles) go before every citizen router, so a
lawyer's messages never reach the citizen desk. The answer to the desk's last question
(which ticket or service of the list just shown, 撤回 是/否) comes next: only the very
next message answers it (any other sets it aside), so nothing later takes it. A citizen's open
consultation (``handlers/consult.py``) follows, so a bare "5" there is for the lawyer. Survey
answers (``handlers/survey.py``) come before 我的留言 and the forms: a clear answer
("000123 5", "重办") is taken in the middle of a form, and the form goes on."""

from __future__ import annotations

from domain.messages import Outbound
from domain.texts import Texts
from handlers.citizen import CitizenDesk
from handlers.consult import ConsultDesk
from handlers.dispatcher import Dispatcher, Update
from handlers.events import DeliveryReports, Subscriptions, deliveries, follows, silent
from handlers.lawyer import LawyerDesk
from handlers.staff import StaffDesk
from handlers.survey import SurveyDesk


def build_dispatcher(texts: Texts, desk: CitizenDesk, *,
                     subscriptions: Subscriptions | None = None,
                     reports: DeliveryReports | None = None,
                     staff: StaffDesk | None = None,
                     survey: SurveyDesk | None = None,
                     lawyer: LawyerDesk | None = None,
                     consult: ConsultDesk | None = None) -> Dispatcher:
    async def help_text(update: Update) -> list[Outbound]:
        await desk.welcome()  # the services the help lists
        return [Outbound.of_text(texts("help"))]

    staff_routers = [] if staff is None else [staff.bind_router(), staff.router()]
    lawyer_routers = [] if lawyer is None else [lawyer.bind_router(), lawyer.router()]
    return Dispatcher([
        deliveries(reports),          # template delivery reports, consents: no answer
        follows(texts, subscriptions, desk.welcome, desk.set_aside),  # follow, unfollow,
        # scan: the welcome
        silent(),                     # menu links, location reports: no answer
        *staff_routers,               # 绑定 <code>; a bound staff member's messages
        *lawyer_routers,              # 律师绑定 <code>; a bound lawyer's messages and clicks
        # the answer to the desk's last question (撤回 是/否, "1" after 我的留言): the
        # very next message, before a consultation or a survey can take a "1" or a "是"
        desk.asked_router(),
        # 我的咨询; a citizen's open consultation (a bare "5" there is for the lawyer)
        *([] if consult is None else [consult.router()]),
        *([] if survey is None else [survey.router()]),  # ratings, 重办: even mid-form
        desk.my_tickets_router(),     # 我的留言, 查询 LX…, 撤回 LX… (also inside a form)
        desk.form_router(),           # the citizen's answers while in the complaint form
        desk.services_router(),       # 我要反映, 法律咨询, 帮助; any other message
    ], fallback=help_text, engine=desk.engine)
