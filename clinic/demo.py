"""Demo data: two believable clinics (Seoul and New York) with a year of history.

`demo_seed(scale=, seed=)` builds staff in every role, patients, products and lots, series,
appointments, sessions, check-ins, reactions with their assessments, alarms, signals, outbox
messages and call tasks, all with bulk inserts, deterministically from `random.Random(seed)`
and relative to "now" (history in the past, bookings in the next six weeks).

It lives on the top floor because it writes every app's rows. It writes rows directly rather
than through the workflows (those work one row at a time and stamp "now"): the states it
produces are the ones the workflows and the outbox machinery would have left behind.
Running it on a database that already holds the demo clinics changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import time as timer
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.hashers import PBKDF2PasswordHasher, get_hasher
from django.db import transaction
from django.db.models import CharField, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from adverse_events.models import (
    Alarm,
    Assessment,
    Causality,
    ClinicTermCode,
    LotSignal,
    Outcome,
    ReactionReport,
    ReactionTerm,
    ReportSource,
    SignalKind,
    SignalStatus,
    Submission,
    TriageStatus,
)
from adverse_events.signals import signals_compute
from adverse_events.summaries import summaries_refresh
from clinic.core.models import CheckInPlanStep, Clinic, ClinicClosure, Role, User
from clinic.core.services import staff_create
from clinic.workflows import WARNING
from patients.links import LIFETIME, _derive_token
from patients.models import (
    CallReason,
    CallState,
    CallTask,
    Channel,
    Language,
    LinkPurpose,
    MessageKind,
    MessageState,
    OutboxMessage,
    Patient,
    PatientAccess,
    PersonalLink,
    ScreeningFact,
    ScreeningFactConfirmation,
    name_key,
    phone_key,
)
from patients.outbox import pick_channel
from treatments.checkins import CALL_AFTER_REMINDER, REMIND_AFTER
from treatments.models import (
    Appointment,
    AppointmentStatus,
    CheckIn,
    CheckInState,
    DeliveryMethod,
    LaserType,
    LotStatus,
    Product,
    ProductForm,
    ProductLot,
    ProductSource,
    Recall,
    RecallNotice,
    SeriesStatus,
    SeriesTemplate,
    SessionAddendum,
    SessionStatus,
    Storage,
    TreatedArea,
    TreatmentSeries,
    TreatmentSession,
)
from treatments.recalls import recall_message_all
from treatments.services import lot_recall

# The demo's one password (public by design) and the URL printed at the end.
DEMO_PASSWORD = "demo-clinic-2026!"
SEOUL = "Seoul"
NEW_YORK = "New York"
HISTORY_DAYS = 270
BOOKING_DAYS = 42
PATIENTS_PER_CLINIC = 100


def totp_key_hex(username: str) -> str:
    """A fixed 20-byte TOTP secret per demo user, so authenticators survive re-seeding."""
    return hashlib.sha1(f"clinic-demo-totp:{username}".encode()).hexdigest()  # noqa: S324


def totp_key_base32(username: str) -> str:
    """The same secret as authenticator apps take it."""
    return base64.b32encode(bytes.fromhex(totp_key_hex(username))).decode()


# --- staff ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffSpec:
    username: str
    first_name: str
    last_name: str
    roles: tuple[tuple[str, str], ...]  # (clinic name, role)
    is_superuser: bool = False


STAFF = [
    StaffSpec("seoul.practitioner", "Seohyun", "Park", ((SEOUL, Role.PRACTITIONER),)),
    StaffSpec("seoul.practitioner2", "Doyun", "Lee", ((SEOUL, Role.PRACTITIONER),)),
    StaffSpec("seoul.frontdesk", "Haneul", "Kim", ((SEOUL, Role.FRONT_DESK),)),
    StaffSpec("seoul.safety", "Minho", "Jung", ((SEOUL, Role.SAFETY_LEAD),)),
    StaffSpec("ny.practitioner", "Rebecca", "Stein", ((NEW_YORK, Role.PRACTITIONER),)),
    StaffSpec("ny.practitioner2", "Marcus", "Bell", ((NEW_YORK, Role.PRACTITIONER),)),
    StaffSpec("ny.frontdesk", "Tanya", "Ruiz", ((NEW_YORK, Role.FRONT_DESK),)),
    StaffSpec("ny.safety", "Alan", "Whitfield", ((NEW_YORK, Role.SAFETY_LEAD),)),
    # Managers look after staff (invitations, roles, deactivation) and see no patients.
    StaffSpec("seoul.manager", "Eunji", "Choi", ((SEOUL, Role.MANAGER),)),
    StaffSpec("ny.manager", "Grace", "Okafor", ((NEW_YORK, Role.MANAGER),)),
    # A visiting practitioner who works at both clinics (their hours never overlap in UTC).
    StaffSpec(
        "shared.practitioner",
        "Jiho",
        "Han",
        ((SEOUL, Role.PRACTITIONER), (NEW_YORK, Role.PRACTITIONER)),
    ),
    StaffSpec("admin", "Demo", "Admin", ((SEOUL, Role.SAFETY_LEAD),), is_superuser=True),
]


def extra_practitioners(scale: float) -> list[StaffSpec]:
    """More practitioners at larger scales, so the calendars stay bookable."""
    extra = max(0, math.ceil(scale / 2) - 1)
    return [
        StaffSpec(f"{prefix}.practitioner{n}", first, f"Extra {n}", ((clinic, Role.PRACTITIONER),))
        for prefix, clinic, first in (("seoul", SEOUL, "Yerin"), ("ny", NEW_YORK, "Jordan"))
        for n in range(3, 3 + extra)
    ]


# --- clinics -------------------------------------------------------------------------------

CLINICS = {
    SEOUL: {
        "time_zone": "Asia/Seoul",
        "phone": "+82 2 555 0100",
        "country": "KR",
        "emergency_number": "119",
        "staff_language": "ko",
        "on_call_email": "oncall@seoul.clinic.example",
        "address": "5F, 412 Apgujeong-ro, Gangnam-gu, Seoul 06015",
        "opening_hours": {str(d): ["10:00", "19:00"] for d in range(1, 6)}
        | {"6": ["10:00", "15:00"]},
        "low_stock_threshold": 5,
    },
    NEW_YORK: {
        "time_zone": "America/New_York",
        "phone": "+1 212 555 0100",
        "country": "US",
        "emergency_number": "911",
        "staff_language": "en",
        "on_call_email": "oncall@newyork.clinic.example",
        "address": "120 Spring Street, 3rd floor, New York, NY 10012",
        "opening_hours": {str(d): ["09:00", "18:00"] for d in range(1, 6)}
        | {"4": ["09:00", "20:00"], "6": ["10:00", "14:00"]},
        "low_stock_threshold": 4,
    },
}

# (month, day, reason); fixed-date holidays each year.
HOLIDAYS = {
    SEOUL: [
        (1, 1, "New Year's Day"),
        (3, 1, "Independence Movement Day"),
        (8, 15, "Liberation Day"),
        (10, 3, "National Foundation Day"),
        (10, 9, "Hangul Day"),
        (12, 25, "Christmas"),
    ],
    NEW_YORK: [(1, 1, "New Year's Day"), (7, 4, "Independence Day"), (12, 25, "Christmas")],
}

PRODUCTS = {
    SEOUL: [
        {
            "name": "ExoGlow Regen Serum",
            "manufacturer": "Hanbit Biolab",
            "source": ProductSource.ADIPOSE_MSC,
            "form": ProductForm.LYOPHILISED,
            "storage": Storage.REFRIGERATED,
            "unit": "vial",
            "components": "Adipose MSC-derived exosomes, hyaluronic acid, trehalose, mannitol.",
            "code": "HB",
        },
        {
            "name": "Phyto-Exo Calming Booster",
            "manufacturer": "Greenleaf Cosmeceuticals",
            "source": ProductSource.PLANT,
            "form": ProductForm.GEL_SERUM,
            "storage": Storage.ROOM,
            "unit": "ampoule",
            "components": "Centella asiatica exosome-like vesicles, panthenol, glycerin.",
            "code": "GL",
        },
    ],
    NEW_YORK: [
        {
            "name": "CordaVex Exosome Gel",
            "manufacturer": "Northbridge Regenerative",
            "source": ProductSource.UMBILICAL_CORD_MSC,
            "form": ProductForm.GEL_SERUM,
            "storage": Storage.FROZEN,
            "unit": "syringe",
            "components": "Umbilical cord MSC-derived exosomes, sodium hyaluronate, PBS buffer.",
            "code": "NB",
        },
        {
            "name": "MarrowLux Renewal Solution",
            "manufacturer": "Atlas Cell Sciences",
            "source": ProductSource.BONE_MARROW_MSC,
            "form": ProductForm.SOLUTION,
            "storage": Storage.FROZEN,
            "unit": "vial",
            "components": "Bone-marrow MSC exosomes in saline, human serum albumin 0.5%.",
            "code": "AC",
        },
    ],
}

RECALL_REASON = (
    "Manufacturer's sterility retest failed (endotoxin above limit); two infection reports."
)
QUARANTINE_REASONS = {
    SEOUL: "Cold-chain excursion: the delivery logger shows 14 °C for 6 hours; held until the "
    "manufacturer confirms stability.",
    NEW_YORK: "Two infection reports within three weeks of sessions with this lot; held pending "
    "the safety review and the manufacturer's sterility certificate.",
}

# name, indication, sessions, interval, min, max, maintenance months, minutes, method weights
TEMPLATES = [
    ("Acne scars: 3 sessions, 4 weeks apart", "Acne scars", 3, 4, 4, 6, 12, 60),
    ("Rejuvenation: 4 sessions, 4 weeks apart", "Rejuvenation", 4, 4, 4, 6, 6, 45),
    ("Pigmentation: 3 sessions, 6 weeks apart", "Pigmentation", 3, 6, 4, 8, 6, 45),
    ("Hair: 4 sessions, 4 weeks apart", "Hair thinning", 4, 4, 3, 6, 6, 60),
]
TEMPLATE_WEIGHTS = {SEOUL: [25, 35, 30, 10], NEW_YORK: [25, 40, 15, 20]}

# --- people --------------------------------------------------------------------------------

KO_SURNAMES = [
    ("김", "Kim"), ("이", "Lee"), ("박", "Park"), ("최", "Choi"), ("정", "Jung"), ("강", "Kang"),
    ("조", "Cho"), ("윤", "Yoon"), ("장", "Jang"), ("임", "Lim"), ("한", "Han"), ("오", "Oh"),
    ("서", "Seo"), ("신", "Shin"), ("권", "Kwon"), ("황", "Hwang"), ("안", "Ahn"), ("송", "Song"),
    ("유", "Yoo"), ("홍", "Hong"),
]  # fmt: skip
KO_GIVEN_F = [
    ("지민", "Jimin"), ("서연", "Seoyeon"), ("수빈", "Subin"), ("예은", "Yeeun"),
    ("하은", "Haeun"), ("유진", "Yujin"), ("지현", "Jihyun"), ("은지", "Eunji"),
    ("소영", "Soyoung"), ("민지", "Minji"), ("혜진", "Hyejin"), ("다은", "Daeun"),
    ("수민", "Sumin"), ("나연", "Nayeon"), ("채원", "Chaewon"), ("윤서", "Yunseo"),
    ("미경", "Mikyung"), ("영희", "Younghee"), ("지영", "Jiyoung"), ("선희", "Sunhee"),
]  # fmt: skip
KO_GIVEN_M = [
    ("민준", "Minjun"), ("서준", "Seojun"), ("현우", "Hyunwoo"), ("지훈", "Jihoon"),
    ("성민", "Sungmin"), ("정우", "Jungwoo"), ("도현", "Dohyun"), ("태양", "Taeyang"),
]  # fmt: skip
EN_GIVEN_F = [
    "Olivia", "Emma", "Ava", "Sophia", "Mia", "Amelia", "Harper", "Jessica", "Ashley", "Lauren",
    "Rachel", "Nicole", "Grace", "Chloe", "Zoe", "Naomi", "Hannah", "Emily", "Sarah", "Megan",
]  # fmt: skip
EN_GIVEN_M = ["Michael", "David", "James", "Daniel", "Ethan", "Ryan", "Andrew", "Lucas"]

# NY groups: given names (f, m), surnames, Fitzpatrick range, weight.
NY_GROUPS = [
    (
        (EN_GIVEN_F, EN_GIVEN_M),
        ["Smith", "Johnson", "Miller", "Davis", "Wilson", "Anderson", "Murphy", "O'Brien",
         "Cohen", "Goldberg", "Rossi", "Kowalski", "Novak", "Sullivan", "Walsh", "Becker"],
        (1, 3),
        40,
    ),
    (
        (["María", "Camila", "Valentina", "Daniela", "Lucía", "Gabriela", "Ana", "Isabel"],
         ["Carlos", "José", "Luis", "Mateo"]),
        ["García", "Rodríguez", "Martínez", "Hernández", "López", "Pérez", "Ramírez", "Torres"],
        (3, 5),
        22,
    ),
    (
        (["Mei", "Wen", "Jia", "Lin", "Yuki", "Hye-jin", "Soo-ah", "Linh"],
         ["Wei", "Kenji", "Min-jun", "Minh"]),
        ["Chen", "Wang", "Liu", "Zhang", "Tanaka", "Kim", "Park", "Nguyen"],
        (2, 4),
        18,
    ),
    (
        (["Priya", "Ananya", "Fatima", "Aisha", "Zara", "Meera"], ["Arjun", "Omar", "Rohan"]),
        ["Patel", "Shah", "Singh", "Khan", "Iyer", "Rahman"],
        (4, 5),
        10,
    ),
    (
        (["Aaliyah", "Keisha", "Imani", "Nia", "Ebony", "Chioma"],
         ["Andre", "Malik", "Kwame", "Darius"]),
        ["Jackson", "Washington", "Baptiste", "Okafor", "Adeyemi", "Jean-Louis", "Mensah"],
        (5, 6),
        10,
    ),
]  # fmt: skip
SEOUL_EXPATS = [
    ("Emily", "Carter", 2),
    ("Sophie", "Dubois", 2),
    ("Hannah", "Schmidt", 1),
    ("Yuki", "Tanaka", 3),
    ("Mei", "Lin", 3),
    ("Amara", "Okoye", 6),
    ("Lucas", "Martin", 2),
    ("Priya", "Raman", 5),
]
KO_FITZ = [(2, 10), (3, 45), (4, 35), (5, 8), (1, 1), (6, 1)]
ALLERGIES = [
    "Penicillin (rash)",
    "Lidocaine (itching)",
    "Latex",
    "Nickel",
    "Shellfish",
    "Aspirin (hives)",
]
SCREENING_NOTES = [
    "Isotretinoin stopped 8 months ago.",
    "Uses tretinoin 0.025% at night; advised to pause 5 days before sessions.",
    "Rosacea, stable.",
    "History of cold sores; valacyclovir before perioral work.",
    "Hypothyroidism on levothyroxine.",
    "",
]

# --- reactions -----------------------------------------------------------------------------

# Weights by check-in step (and for patient-form / staff reports: "any").
TERM_WEIGHTS: dict[str, dict[str, float]] = {
    "d1": {
        "redness": 30, "swelling": 20, "itching": 10, "pain": 10, "bruising": 8, "dryness": 4,
        "headache": 4, "fatigue": 3, "fever": 2, "flu_like": 1.5, "allergic_reaction": 1,
        "hives": 1, "face_throat_swelling": 0.3, "breathing_difficulty": 0.2, "other": 1,
    },
    "d3": {
        "redness": 18, "swelling": 14, "itching": 8, "pain": 8, "bruising": 10, "dryness": 12,
        "headache": 3, "fatigue": 4, "flu_like": 2, "allergic_reaction": 1, "hives": 0.8,
        "spreading_hot_redness": 0.4, "other": 1,
    },
    "d7": {
        "dryness": 20, "bruising": 12, "swelling": 5, "pain": 4, "redness": 5,
        "hyperpigmentation": 3, "fatigue": 4, "infection_signs": 1.2,
        "spreading_hot_redness": 0.3, "other": 1,
    },
    "d14": {
        "bruising": 10, "fatigue": 8, "hyperpigmentation": 6, "dryness": 8,
        "infection_signs": 0.6, "other": 1,
    },
    "w6": {"hyperpigmentation": 10, "granuloma": 3, "dryness": 2, "other": 2},
    "m3": {"hyperpigmentation": 6, "granuloma": 3, "other": 2},
    "any": {
        "redness": 12, "swelling": 12, "bruising": 10, "pain": 6, "itching": 6, "dryness": 6,
        "hyperpigmentation": 4, "fever": 2, "headache": 2, "infection_signs": 1.5,
        "allergic_reaction": 1.5, "hives": 1, "granuloma": 1, "face_throat_swelling": 0.4,
        "spreading_hot_redness": 0.4, "other": 2,
    },
}  # fmt: skip
# Latest onset (days after the session) a patient would report for each step.
STEP_ONSET = {
    "d1": (0, 1), "d3": (0, 2), "d7": (1, 6), "d14": (2, 12), "w6": (14, 40), "m3": (20, 88),
    "any": (0, 10),
}  # fmt: skip
OTHER_TEXTS = [
    "Small whiteheads where treated",
    "Tingling around the lips",
    "Eyes puffy in the morning",
    "Scalp feels tight",
    "Tiny bumps on the forehead (milia?)",
]
ACTIONS = {
    "redness": "Reassured; cool compress, SPF 50.",
    "swelling": "Cold compress, head elevated at night.",
    "bruising": "Arnica gel; reviewed anticoagulant timing for next session.",
    "itching": "Bland emollient; oral cetirizine 10 mg if needed.",
    "pain": "Paracetamol; review photos at day 3.",
    "dryness": "Ceramide moisturiser; pause retinoids one more week.",
    "hyperpigmentation": "Hydroquinone 4% nightly and strict sun protection; laser paused.",
    "fatigue": "Rest and fluids; GP if it persists.",
    "fever": "Paracetamol; asked to call if above 38.5 °C or with site warmth.",
    "headache": "Simple analgesia.",
    "flu_like": "Rest and fluids; recheck at day 7.",
    "allergic_reaction": "Oral antihistamine; product component allergy noted on chart.",
    "hives": "Oral antihistamine; allergy noted on chart.",
    "infection_signs": "Seen same day; swab taken, oral cephalexin 500 mg QID for 7 days.",
    "granuloma": "Reviewed in clinic; intralesional triamcinolone 2.5 mg/ml.",
    "spreading_hot_redness": "Sent to ER; IV antibiotics for cellulitis; admitted overnight.",
    "face_throat_swelling": "ER: IM epinephrine, antihistamine and steroid; observed 6 h.",
    "breathing_difficulty": "911 called; epinephrine given; anaphylaxis managed in ER.",
    "other": "Reviewed photos; no treatment needed.",
}
LIKELY_CAUSALITY = {
    "redness": Causality.CERTAIN,
    "swelling": Causality.CERTAIN,
    "bruising": Causality.PROBABLE,
    "itching": Causality.PROBABLE,
    "pain": Causality.CERTAIN,
    "dryness": Causality.PROBABLE,
    "hyperpigmentation": Causality.POSSIBLE,
    "fatigue": Causality.POSSIBLE,
    "fever": Causality.POSSIBLE,
    "headache": Causality.UNLIKELY,
    "flu_like": Causality.POSSIBLE,
    "allergic_reaction": Causality.PROBABLE,
    "hives": Causality.PROBABLE,
    "infection_signs": Causality.PROBABLE,
    "granuloma": Causality.POSSIBLE,
    "spreading_hot_redness": Causality.PROBABLE,
    "face_throat_swelling": Causality.PROBABLE,
    "breathing_difficulty": Causality.PROBABLE,
    "other": Causality.UNASSESSABLE,
}
CALL_OUTCOMES = [
    "Spoke to the patient: all fine, forgot to answer.",
    "Spoke to the patient: mild redness, resolving; no action.",
    "Left a voicemail; will try again tomorrow.",
    "Patient asked for SMS instead of email; contact preference updated.",
    "Spoke to the patient: bruising fading; reassured.",
]
AFTERCARE_TEXT = (
    "Aftercare: no touching or makeup for 24 h; no sun (SPF 30+), sauna, steam or hard "
    "exercise for 72 h; no retinoids or exfoliants for 5 days; cold compress for swelling. "
    "Report anything unusual: [personal link]"
)

DEMO_MEDICATIONS = [
    "Oral contraceptive",
    "Levothyroxine 50 mcg daily",
    "Aspirin 100 mg daily",
    "Cetirizine 10 mg as needed",
]

# Every model the seed writes, in insertion order (for the counts it prints).
SEEDED_MODELS = [
    Clinic, ClinicClosure, CheckInPlanStep, User, Patient, PatientAccess, Product, ProductLot,
    SeriesTemplate, TreatmentSeries, Appointment, PersonalLink, TreatmentSession,
    SessionAddendum, CheckIn, OutboxMessage, Submission, ReactionReport, Assessment, Alarm,
    LotSignal, CallTask, ClinicTermCode, Recall, RecallNotice, ScreeningFactConfirmation,
]  # fmt: skip


# --- the seeder ----------------------------------------------------------------------------


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


@contextmanager
def _backdating(models: Iterable[Any]) -> Iterator[None]:
    """Let bulk inserts carry their own created_at/updated_at (history in the past).

    auto_now/auto_now_add stamp "now" on every insert; a year of demo history needs the time
    each row would have been written. Switched back off in `finally`; the seed is a
    one-process command, so nothing else sees the switch.
    """
    saved = []
    for model in models:
        for name in ("created_at", "updated_at"):
            f = model._meta.get_field(name)
            saved.append((f, f.auto_now, f.auto_now_add))
            f.auto_now = f.auto_now_add = False
    try:
        yield
    finally:
        for f, auto_now, auto_now_add in saved:
            f.auto_now, f.auto_now_add = auto_now, auto_now_add


@contextmanager
def _quick_demo_hashes() -> Iterator[None]:
    """Hash the demo accounts' (published) password with fewer PBKDF2 rounds.

    Ten full-strength hashes take most of the seed's time, and protect a password printed on
    the screen. The rounds are stored in each hash, so it still verifies, and Django's
    `must_update` re-hashes it at full strength on the account's first login.
    """
    hasher = get_hasher("default")
    if not isinstance(hasher, PBKDF2PasswordHasher):
        yield
        return
    hasher.iterations = 10_000  # an instance attribute shadowing the class's
    try:
        yield
    finally:
        del hasher.iterations


@dataclass
class ClinicCtx:
    clinic: Clinic
    today: date
    hours: dict[str, list[str]]
    closed: set[date]
    practitioners: list[User] = field(default_factory=list)
    front_desk: User | None = None
    safety_lead: User | None = None
    products: list[Product] = field(default_factory=list)
    lots: dict[int, list[dict]] = field(default_factory=dict)  # product index -> lot plans
    templates: list[SeriesTemplate] = field(default_factory=list)
    patients: list[Patient] = field(default_factory=list)

    @property
    def clinicians(self) -> list[User]:
        return [*self.practitioners, self.safety_lead]


@dataclass
class SessionPlan:
    ctx: ClinicCtx
    session: TreatmentSession
    lot_plan: dict


class Seeder:
    def __init__(self, *, scale: float, seed: int, now: datetime | None = None) -> None:
        self.scale = scale
        self.rng = random.Random(seed)
        self._uuid_rng = random.Random(f"uuid-{seed}")
        self.now = now or timezone.now()
        self.ctxs: dict[str, ClinicCtx] = {}
        self.busy: dict[tuple[int, date], list[tuple[datetime, datetime]]] = defaultdict(list)
        self.terms = {t.code: t for t in ReactionTerm.objects.all()}
        self.counts: Counter[str] = Counter()

    # -- helpers ---------------------------------------------------------------------------

    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self._uuid_rng.getrandbits(128), version=4)

    def stamp(self, obj: Any, at: datetime, user: User | None = None, updated: Any = None) -> Any:
        obj.uuid = self.uid()
        obj.created_at = at
        obj.updated_at = updated or at
        obj._history_date = at
        if user is not None:
            obj._history_user = user
        return obj

    def insert(self, model: Any, objs: list[Any]) -> list[Any]:
        if objs:
            model.objects.bulk_create(objs, batch_size=500)
        self.counts[model._meta.label] += len(objs)
        return objs

    def pick(self, weights: dict[str, float]) -> str:
        keys = list(weights)
        return self.rng.choices(keys, weights=[weights[k] for k in keys])[0]

    def local(self, ctx: ClinicCtx, d: date, minute: int) -> datetime:
        return datetime.combine(d, time(minute // 60, minute % 60), tzinfo=ctx.clinic.zone)

    def clamp_past(self, moment: datetime, floor: datetime) -> datetime:
        """`moment`, but never in the future and never before `floor`."""
        return max(floor, min(moment, self.now - timedelta(minutes=1)))

    # -- stage 1: clinics, staff, products ---------------------------------------------------

    def build_clinics(self) -> None:
        plan_steps, closures = [], []
        for name, spec in CLINICS.items():
            at = self.now - timedelta(days=HISTORY_DAYS + 60)
            clinic = self.stamp(Clinic(name=name, **spec), at)
            clinic.full_clean(validate_unique=False)
            self.insert(Clinic, [clinic])
            today = clinic.local(self.now).date()
            first, last = today - timedelta(days=HISTORY_DAYS + 30), today + timedelta(days=90)
            closed: set[date] = set()
            for year in range(first.year, last.year + 1):
                for month, day, reason in HOLIDAYS[name]:
                    d = date(year, month, day)
                    if first <= d <= last:
                        closed.add(d)
                        closures.append(
                            self.stamp(
                                ClinicClosure(clinic=clinic, starts_on=d, ends_on=d, reason=reason),
                                at,
                            )
                        )
            training = today - timedelta(days=self.rng.randint(60, 120))
            closures.append(
                self.stamp(
                    ClinicClosure(
                        clinic=clinic,
                        starts_on=training,
                        ends_on=training + timedelta(days=1),
                        reason="Staff training and equipment servicing",
                    ),
                    at,
                )
            )
            closed |= {training, training + timedelta(days=1)}
            for code, label, offset in CheckInPlanStep.DEFAULT_PLAN:
                plan_steps.append(
                    self.stamp(
                        CheckInPlanStep(clinic=clinic, code=code, label=label, offset=offset), at
                    )
                )
            self.ctxs[name] = ClinicCtx(clinic, today, spec["opening_hours"], closed)
        self.insert(ClinicClosure, closures)
        self.insert(CheckInPlanStep, plan_steps)
        self.steps = {name: [s for s in plan_steps if s.clinic.name == name] for name in self.ctxs}
        # A clinic's own codes for a few terms (room for MedDRA; these are local codes).
        codes = [
            self.stamp(
                ClinicTermCode(clinic=ctx.clinic, term=self.terms[t], system="local", code=c),
                self.now - timedelta(days=HISTORY_DAYS),
            )
            for ctx, prefix in ((self.ctxs[SEOUL], "SEL"), (self.ctxs[NEW_YORK], "NYC"))
            for t, c in (
                ("redness", f"{prefix}-R01"),
                ("swelling", f"{prefix}-R02"),
                ("granuloma", f"{prefix}-S01"),
            )
        ]
        self.insert(ClinicTermCode, codes)

    def build_staff(self) -> list[StaffSpec]:
        specs = STAFF + extra_practitioners(self.scale)
        clinics = {name: ctx.clinic for name, ctx in self.ctxs.items()}
        for spec in specs:
            with _quick_demo_hashes():
                user = staff_create(
                    username=spec.username,
                    password=DEMO_PASSWORD,
                    clinic_roles=[(clinics[c], role) for c, role in spec.roles],
                    totp_key_hex=totp_key_hex(spec.username),
                    email=f"{spec.username}@clinic.example",
                    first_name=spec.first_name,
                    last_name=spec.last_name,
                    is_superuser=spec.is_superuser,
                )
            self.counts[User._meta.label] += 1
            if spec.is_superuser:
                continue
            for clinic_name, role in spec.roles:
                ctx = self.ctxs[clinic_name]
                if role == Role.PRACTITIONER:
                    ctx.practitioners.append(user)
                elif role == Role.FRONT_DESK:
                    ctx.front_desk = user
                elif role == Role.SAFETY_LEAD:
                    ctx.safety_lead = user
        # The visiting practitioner is listed last: patients' regulars are the residents.
        for ctx in self.ctxs.values():
            ctx.practitioners.sort(key=lambda u: u.username.startswith("shared."))
        return specs

    def build_products(self) -> None:
        products, templates = [], []
        for name, ctx in self.ctxs.items():
            at = self.now - timedelta(days=HISTORY_DAYS + 60)
            for spec in PRODUCTS[name]:
                fields = {k: v for k, v in spec.items() if k != "code"}
                product = self.stamp(Product(clinic=ctx.clinic, **fields), at, ctx.safety_lead)
                ctx.products.append(product)
                products.append(product)
            for tpl, weight in zip(TEMPLATES, TEMPLATE_WEIGHTS[name], strict=True):
                t_name, indication, n, interval, lo, hi, maint, minutes = tpl
                template = self.stamp(
                    SeriesTemplate(
                        clinic=ctx.clinic,
                        name=t_name,
                        indication=indication,
                        sessions_planned=n,
                        interval_weeks=interval,
                        min_interval_weeks=lo,
                        max_interval_weeks=hi,
                        maintenance_interval_months=maint,
                        session_minutes=minutes,
                    ),
                    at,
                )
                template.weight = weight
                ctx.templates.append(template)
                templates.append(template)
            # Lot plans (rows are written once the sessions say how much each used).
            for index, spec in enumerate(PRODUCTS[name]):
                t = ctx.today
                year = t.year % 100
                ctx.lots[index] = [
                    # expired: used until it ran out of date
                    {"received": t - timedelta(days=330), "expiry": t - timedelta(days=55),
                     "number": f"{spec['code']}{year - 1:02d}-{self.rng.randint(1000, 4999)}"},
                    # quarantined (the first product's) or released
                    {"received": t - timedelta(days=160), "expiry": t + timedelta(days=220),
                     "quarantined_on": t - timedelta(days=18) if index == 0 else None,
                     "number": f"{spec['code']}{year:02d}-{self.rng.randint(5000, 6999)}"},
                    {"received": t - timedelta(days=70), "expiry": t + timedelta(days=300),
                     "low": index == 1,
                     "number": f"{spec['code']}{year:02d}-{self.rng.randint(7000, 8499)}"},
                    {"received": t - timedelta(days=12), "expiry": t + timedelta(days=420),
                     "number": f"{spec['code']}{year:02d}-{self.rng.randint(8500, 9999)}"},
                ]  # fmt: skip
                for lot in ctx.lots[index]:
                    lot["used"] = 0
                    lot["product"] = ctx.products[index]
        self.insert(Product, products)
        self.insert(SeriesTemplate, templates)

    # -- stage 2: patients -----------------------------------------------------------------

    def _korean(self, female: bool) -> tuple[str, str, str, str]:
        sur, sur_r = self.rng.choice(KO_SURNAMES)
        given, given_r = self.rng.choice(KO_GIVEN_F if female else KO_GIVEN_M)
        return given, sur, given_r.lower(), sur_r.lower()

    def build_patients(self) -> None:
        rows = []
        n = max(4, round(PATIENTS_PER_CLINIC * self.scale))
        for ctx in self.ctxs.values():
            for i in range(n):
                rows.append(self._patient(ctx, i))
        self.insert(Patient, rows)
        for p in rows:
            self.ctxs[p.clinic.name].patients.append(p)

    def _patient(self, ctx: ClinicCtx, i: int) -> Patient:
        rng = self.rng
        female = rng.random() < 0.78
        language = Language.EN
        if ctx.clinic.name == SEOUL:
            if rng.random() < 0.9:
                first, last, fr, lr = self._korean(female)
                language = Language.KO
                fitz = rng.choices([f for f, _ in KO_FITZ], [w for _, w in KO_FITZ])[0]
            else:
                first, last, fitz = rng.choice(SEOUL_EXPATS)
                fr, lr = first.lower(), last.lower()
            # Stored in E.164, as patients.services stores what staff type.
            phone = f"+8210{rng.randint(2000, 5899)}{rng.randint(1000, 9999)}"
            domains = ["example.kr", "example.com"]
            sms_share = 0.7
        else:
            group = rng.choices(NY_GROUPS, [g[3] for g in NY_GROUPS])[0]
            first = rng.choice(group[0][0] if female else group[0][1])
            last = rng.choice(group[1])
            fitz = rng.randint(*group[2])
            fr, lr = first.lower(), last.lower()
            if last in {"Kim", "Park"} and rng.random() < 0.4:
                language = Language.KO
            phone = f"+1{rng.choice([212, 646, 917, 718, 347])}555{rng.randint(100, 199):04d}"
            domains = ["example.com", "example.net", "example.org"]
            sms_share = 0.35
        # Every Fitzpatrick type appears at every clinic.
        if i < 6:
            fitz = i + 1
        handle = "".join(c for c in f"{fr}.{lr}" if c.isascii() and (c.isalnum() or c == "."))
        email = f"{handle}{rng.randint(1, 99)}@{rng.choice(domains)}"
        contact = rng.random()
        if contact < 0.08:
            email = ""  # phone only
        elif contact < 0.13:
            phone = ""  # email only
        channel = (
            Channel.SMS if (rng.random() < sms_share and phone) or not email else Channel.EMAIL
        )
        registered = self.now - timedelta(days=rng.randint(HISTORY_DAYS, HISTORY_DAYS + 400))
        consent = rng.random() > 0.1 and i != 6  # always one patient who declined messages
        if i in (12, 13):  # always one STOP by SMS and one bounced address
            consent, phone, email = True, phone or "+12125550199", email or f"p{i}@example.com"
        age = rng.randint(22, 68)
        dob = ctx.today - timedelta(days=age * 365 + rng.randint(0, 364))
        allergic = rng.random() < 0.15
        p = Patient(
            clinic=ctx.clinic,
            first_name=first,
            last_name=last,
            date_of_birth=dob,
            email=email,
            phone=phone,
            preferred_channel=channel,
            consent_to_contact=consent,
            consent_recorded_at=registered if consent else None,
            language=language,
            fitzpatrick_type=fitz,
            allergies=rng.choice(ALLERGIES) if allergic else "",
            allergic_to_product_components=i == 11 or rng.random() < 0.01,
            on_anticoagulants=i == 7 or rng.random() < 0.07,
            keloid_history=i == 8 or rng.random() < 0.05,
            autoimmune_disease=i == 9 or rng.random() < 0.05,
            pregnant_or_breastfeeding=i == 10 or rng.random() < 0.03,
            # (No draw from `rng` here: the rest of the demo stays as it was.)
            current_medications=DEMO_MEDICATIONS[i % len(DEMO_MEDICATIONS)] if i % 5 == 0 else "",
            on_isotretinoin=i == 15,
            screening_notes=rng.choice(SCREENING_NOTES) if rng.random() < 0.3 else "",
            name_key=name_key(first, last),
            phone_key=phone_key(phone),
        )
        if consent and phone and (i == 12 or rng.random() < 0.04):
            p.sms_stopped_at = registered + timedelta(days=rng.randint(30, 300))
            if p.sms_stopped_at > self.now:
                p.sms_stopped_at = self.now - timedelta(days=3)
        if consent and email and (i == 13 or rng.random() < 0.03):
            p.email_bounced_at = self.now - timedelta(days=rng.randint(2, 200))
        if i == 14:
            p.entered_in_error = True
            p.entered_in_error_reason = "Duplicate registration; the patient's chart is the other."
        return self.stamp(p, registered, ctx.front_desk)

    # -- stage 3: series and appointments -------------------------------------------------

    def _free(self, pid: int, start: datetime, end: datetime) -> bool:
        for day in {start.astimezone(UTC).date(), end.astimezone(UTC).date()}:
            for s, e in self.busy[(pid, day)]:
                if s < end and start < e:
                    return False
        return True

    def _book(self, pid: int, start: datetime, end: datetime) -> None:
        for day in {start.astimezone(UTC).date(), end.astimezone(UTC).date()}:
            self.busy[(pid, day)].append((start, end))

    def slot(
        self, ctx: ClinicCtx, day: date, minutes: int, candidates: list[User]
    ) -> tuple[datetime, datetime, User] | None:
        """A start in opening hours near `day` when one of `candidates` is free."""
        first = ctx.today - timedelta(days=HISTORY_DAYS)
        last = ctx.today + timedelta(days=BOOKING_DAYS)
        for shift in (0, 1, -1, 2, -2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14):
            d = day + timedelta(days=shift)
            span = ctx.hours.get(str(d.isoweekday()))
            if d < first or d > last or not span or d in ctx.closed:
                continue
            open_m, close_m = _minutes(span[0]), _minutes(span[1])
            starts = list(range(open_m, close_m - minutes + 1, 15))
            for m in self.rng.sample(starts, min(8, len(starts))):
                start = self.local(ctx, d, m)
                end = start + timedelta(minutes=minutes)
                for p in candidates:
                    if self._free(p.pk, start, end):
                        self._book(p.pk, start, end)
                        return start, end, p
        return None

    def build_series(self) -> list[Appointment]:
        all_series, appointments = [], []
        for ctx in self.ctxs.values():
            for patient in ctx.patients:
                if patient.entered_in_error or patient.allergic_to_product_components:
                    continue
                count = self.rng.choices([0, 1, 2], [12, 70, 18])[0]
                start_day = ctx.today + timedelta(
                    days=self.rng.randint(-HISTORY_DAYS + 5, BOOKING_DAYS - 7)
                )
                if patient.pregnant_or_breastfeeding:
                    count, start_day = 1, ctx.today + timedelta(days=self.rng.randint(3, 30))
                regular = self.rng.choice(ctx.practitioners[:-1] or ctx.practitioners)
                candidates = [regular] + [p for p in ctx.practitioners if p != regular]
                for _ in range(count):
                    if start_day > ctx.today + timedelta(days=BOOKING_DAYS - 3):
                        break
                    series, appts, end_day = self._one_series(ctx, patient, start_day, candidates)
                    all_series.append(series)
                    appointments.extend(appts)
                    start_day = end_day + timedelta(days=self.rng.randint(40, 200))
        for ctx in self.ctxs.values():
            appointments.extend(self._practitioners_day(ctx, appointments))
        # Every clinic shows a cancelled upcoming booking (and its cancelled reminder).
        for ctx in self.ctxs.values():
            future = [a for a in appointments if a.clinic is ctx.clinic and a.starts_at > self.now]
            if future and not any(a.status == AppointmentStatus.CANCELLED for a in future):
                a = future[-1]
                a.status = AppointmentStatus.CANCELLED
                a.front_desk_note = "Cancelled by phone; patient will call back."
        self.insert(TreatmentSeries, all_series)
        self.insert(Appointment, appointments)
        return appointments

    def _practitioners_day(
        self, ctx: ClinicCtx, appointments: list[Appointment]
    ) -> list[Appointment]:
        """On an opening day every practitioner's day list shows someone who has arrived and
        (while the day lasts) someone still booked: consultations added on free slots, with
        patients who have nothing else today. Their sessions are logged in the demo itself."""
        span = ctx.hours.get(str(ctx.today.isoweekday()))
        if not span or ctx.today in ctx.closed:
            return []
        day_start, day_end = ctx.clinic.day_span(ctx.today)
        busy_today = {a.patient_id for a in appointments if day_start <= a.starts_at < day_end}
        spare = [
            p
            for p in ctx.patients
            if p.pk not in busy_today
            and not (p.entered_in_error or p.allergic_to_product_components)
            and not p.pregnant_or_breastfeeding
        ]
        open_m, close_m = _minutes(span[0]), _minutes(span[1])
        made: list[Appointment] = []
        for practitioner in ctx.practitioners:
            mine = [
                a
                for a in appointments + made
                if a.practitioner_id == practitioner.pk
                and a.clinic is ctx.clinic
                and day_start <= a.starts_at < day_end
            ]
            wanted = {AppointmentStatus.ARRIVED: 1, AppointmentStatus.BOOKED: 2}
            for a in mine:
                if a.status in wanted:
                    wanted[a.status] -= 1
            starts = [self.local(ctx, ctx.today, m) for m in range(open_m, close_m - 29, 30)]
            free = [t for t in starts if self._free(practitioner.pk, t, t + timedelta(minutes=30))]
            past = [t for t in free if t <= self.now]
            future = [t for t in free if t > self.now]
            # Arrived: the latest slot already begun, else (before opening) the first one.
            arrive_at = past[-1:] or future[:1]
            picks = [(t, AppointmentStatus.ARRIVED) for t in arrive_at[: wanted["arrived"]]]
            later = [t for t in future if t not in arrive_at]
            picks += [(t, AppointmentStatus.BOOKED) for t in later[: wanted["booked"]]]
            for start, status in picks:
                if not spare:
                    return made
                patient = spare.pop(self.rng.randrange(len(spare)))
                end = start + timedelta(minutes=30)
                self._book(practitioner.pk, start, end)
                appt = Appointment(
                    clinic=ctx.clinic,
                    patient=patient,
                    practitioner=practitioner,
                    starts_at=start,
                    ends_at=end,
                    status=status,
                    front_desk_note="Consultation before a course.",
                )
                self.stamp(appt, self.now - timedelta(days=self.rng.randint(2, 10)))
                appt._history_user = ctx.front_desk
                made.append(appt)
        return made

    def _one_series(
        self, ctx: ClinicCtx, patient: Patient, start_day: date, candidates: list[User]
    ) -> tuple[TreatmentSeries, list[Appointment], date]:
        rng = self.rng
        template = rng.choices(ctx.templates, [t.weight for t in ctx.templates])[0]
        interval = template.interval_weeks
        series = TreatmentSeries(
            clinic=ctx.clinic,
            patient=patient,
            template=template,
            indication=template.indication,
            sessions_planned=template.sessions_planned,
            interval_weeks=interval,
            maintenance_interval_months=template.maintenance_interval_months,
        )
        booked_at = self.local(ctx, start_day - timedelta(days=rng.randint(3, 21)), 11 * 60)
        self.stamp(series, min(booked_at, self.now - timedelta(hours=2)), ctx.front_desk)
        cancel_after = rng.randint(1, template.sessions_planned - 1) if rng.random() < 0.05 else 0
        appts: list[Appointment] = []
        day = start_day
        completed = 0
        end_day = start_day
        for seq in range(1, template.sessions_planned + 1):
            if day > ctx.today + timedelta(days=BOOKING_DAYS):
                break  # booked as the course goes; not yet this far ahead
            attempts = 0
            while True:
                got = self.slot(ctx, day, template.session_minutes, candidates)
                if got is None:
                    break
                start, end, practitioner = got
                appt = Appointment(
                    clinic=ctx.clinic,
                    patient=patient,
                    practitioner=practitioner,
                    series=series,
                    sequence=seq,
                    starts_at=start,
                    ends_at=end,
                )
                self.stamp(appt, self.clamp_past(start - timedelta(days=14), series.created_at))
                appt._history_user = ctx.front_desk
                appts.append(appt)
                if cancel_after and seq > cancel_after:
                    appt.status = AppointmentStatus.CANCELLED
                    appt.front_desk_note = "Patient stopped the course (moving abroad)."
                    break
                if end <= self.now:
                    roll = rng.random()
                    if roll < 0.04 and attempts < 2:
                        appt.status = AppointmentStatus.NO_SHOW
                    elif roll < 0.09 and attempts < 2:
                        appt.status = AppointmentStatus.CANCELLED
                        appt.front_desk_note = "Rescheduled at the patient's request."
                    else:
                        appt.status = AppointmentStatus.COMPLETED
                        completed += 1
                        break
                    attempts += 1
                    day = ctx.clinic.local(start).date() + timedelta(days=rng.randint(3, 9))
                    continue
                appt.status = AppointmentStatus.BOOKED
                if start <= self.now:
                    appt.status = AppointmentStatus.ARRIVED
                elif rng.random() < 0.03:
                    appt.status = AppointmentStatus.CANCELLED
                    appt.front_desk_note = "Cancelled by phone; patient will call back."
                    break
                if rng.random() < 0.04:
                    appt.safety_hold = True
                    if rng.random() < 0.5:
                        appt.hold_cleared_by = ctx.practitioners[0]
                        appt.hold_cleared_at = self.now - timedelta(hours=rng.randint(2, 48))
                        appt.hold_clearance_reason = (
                            "Reviewed photos: redness resolved, fine to proceed."
                        )
                break
            end_day = day
            if cancel_after and seq > cancel_after:
                break
            day = day + timedelta(weeks=interval, days=rng.randint(-2, 4))
        if cancel_after and completed < template.sessions_planned:
            series.status = SeriesStatus.CANCELLED
        elif completed == template.sessions_planned:
            series.status = SeriesStatus.COMPLETED
            last = max(a.starts_at for a in appts if a.status == AppointmentStatus.COMPLETED)
            months = series.maintenance_interval_months
            series.maintenance_due_on = ctx.clinic.local(last).date() + timedelta(days=30 * months)
        return series, appts, end_day

    # -- stage 4: lots and sessions ------------------------------------------------------

    def _lot_for(self, ctx: ClinicCtx, on: date) -> dict:
        index = 0 if self.rng.random() < 0.6 else 1
        usable = [
            lot
            for lot in ctx.lots[index]
            if lot["received"] <= on <= lot["expiry"]
            and (lot.get("quarantined_on") is None or on < lot["quarantined_on"])
        ]
        usable.sort(key=lambda lot: lot["expiry"])  # first expiring, first out
        if len(usable) > 1 and self.rng.random() < 0.25:
            return self.rng.choice(usable[1:])
        return usable[0]

    def _procedure(self, indication: str, patient: Patient) -> dict[str, Any]:
        rng = self.rng
        dark = (patient.fitzpatrick_type or 0) >= 5

        def needling(lo: float, hi: float) -> dict[str, Any]:
            depth = Decimal(str(round(rng.uniform(lo, hi) * 4) / 4))
            return {"delivery_method": DeliveryMethod.MICRONEEDLING, "needle_depth_mm": depth}

        def laser(device: str, kind: str, lo: float, hi: float, passes: tuple[int, int]):
            return {
                "delivery_method": DeliveryMethod.LASER,
                "laser_device": device,
                "laser_type": kind,
                "fluence_j_cm2": Decimal(str(round(rng.uniform(lo, hi), 1))),
                "passes": rng.randint(*passes),
            }

        areas: list[str]
        if indication == "Acne scars":
            proc = (
                needling(1.5, 2.5)
                if dark or rng.random() < 0.6
                else laser("Lutronic eCO2", LaserType.ABLATIVE_FRACTIONAL, 12, 20, (1, 2))
            )
            areas = ["scar_sites", "cheeks"] + rng.sample(["forehead", "chin", "nose"], 1)
        elif indication == "Rejuvenation":
            roll = rng.random()
            if roll < 0.5 or (dark and roll < 0.8):
                proc = needling(0.5, 1.0)
            elif roll < 0.8:
                proc = laser("Fraxel Dual 1550", LaserType.NON_ABLATIVE_FRACTIONAL, 10, 30, (4, 8))
            else:
                proc = {"delivery_method": DeliveryMethod.MICRO_INJECTION}
            areas = rng.sample(
                ["forehead", "cheeks", "periorbital", "perioral", "neck", "decolletage"],
                rng.randint(2, 4),
            )
        elif indication == "Pigmentation":
            roll = rng.random()
            if dark and roll < 0.7:
                proc = needling(0.5, 1.0)
            elif roll < 0.55:
                proc = laser("Lumenis M22", LaserType.IPL, 12, 18, (1, 2))
            elif roll < 0.85:
                proc = laser("Clear + Brilliant", LaserType.NON_ABLATIVE_FRACTIONAL, 5, 10, (6, 8))
            else:
                proc = {"delivery_method": DeliveryMethod.TOPICAL}
            areas = rng.sample(["cheeks", "forehead", "nose", "perioral"], rng.randint(1, 3))
        else:
            proc = (
                {"delivery_method": DeliveryMethod.MICRO_INJECTION}
                if rng.random() < 0.6
                else needling(0.5, 1.0)
            )
            areas = ["scalp"]
        proc["treated_areas"] = sorted(areas, key=TreatedArea.values.index)
        return proc

    def _screening(self, patient: Patient, method: str, at: datetime) -> tuple[dict, bool]:
        answers = {
            "active_infection": False,
            "pregnant_or_breastfeeding": False,
            "anticoagulants": patient.on_anticoagulants,
        }
        findings = []
        if patient.on_anticoagulants:
            findings.append(("anticoagulants", "Takes blood thinners: more bruising is likely."))
        if patient.keloid_history:
            findings.append(("keloids", "History of keloids."))
        if patient.autoimmune_disease:
            findings.append(("autoimmune", "Autoimmune disease."))
        if method == DeliveryMethod.LASER and (patient.fitzpatrick_type or 0) >= 5:
            findings.append(
                (
                    "fitzpatrick_laser",
                    f"Fitzpatrick type {patient.get_fitzpatrick_type_display()} with laser: "
                    "higher risk of pigment change.",
                )
            )
        record = {
            "answers": answers,
            "findings": [{"code": c, "level": WARNING, "message": m} for c, m in findings],
            "screened_at": at.isoformat(),
        }
        return record, bool(findings)

    def build_sessions(self, appointments: list[Appointment]) -> list[SessionPlan]:
        rng = self.rng
        plans: list[SessionPlan] = []
        links = []
        done = [a for a in appointments if a.status == AppointmentStatus.COMPLETED]
        for appt in sorted(done, key=lambda a: a.starts_at):
            ctx = self.ctxs[appt.clinic.name]
            patient = appt.patient
            performed = appt.starts_at + timedelta(minutes=rng.choice([5, 10, 10, 15]))
            local_day = ctx.clinic.local(performed).date()
            lot_plan = self._lot_for(ctx, local_day)
            proc = self._procedure(appt.series.indication, patient)
            screening, warned = self._screening(patient, proc["delivery_method"], performed)
            units = 2 if rng.random() < 0.2 else 1
            session = TreatmentSession(
                clinic=ctx.clinic,
                patient=patient,
                practitioner=appt.practitioner,
                appointment=appt,
                series=appt.series,
                performed_at=performed,
                units_used=units,
                volume_ml=Decimal(units) * Decimal(rng.choice(["2.0", "2.5", "3.0"])),
                screening=screening,
                warnings_acknowledged=warned,
                aftercare_given=True,
                notes=rng.choice(
                    [
                        "",
                        "",
                        "Tolerated well.",
                        "Topical anaesthetic 30 min before; tolerated well.",
                        "Mild pinpoint bleeding, settled with pressure.",
                        "Patient anxious; frequent breaks.",
                    ]
                ),
                **proc,
            )
            self.stamp(session, performed, appt.practitioner)
            age = self.now - performed
            if age > timedelta(days=2) or rng.random() < 0.4:
                session.status = SessionStatus.SIGNED
                session.signed_at = min(
                    performed + timedelta(minutes=rng.randint(30, 240)), self.now
                )
                session.signed_by = appt.practitioner
                session.updated_at = session.signed_at
            link = PersonalLink(
                patient=patient,
                purpose=LinkPurpose.SESSION_REPORT,
                expires_at=performed + LIFETIME[LinkPurpose.SESSION_REPORT],
            )
            self._link_token(link, performed)
            links.append(link)
            session.report_link = link
            lot_plan["used"] += units
            plans.append(SessionPlan(ctx, session, lot_plan))
        # One session per clinic entered in error (logged against the wrong patient), on a lot
        # that keeps other sessions: a lot recalled later still has patients to tell.
        per_lot = Counter(id(p.lot_plan) for p in plans)
        for ctx in self.ctxs.values():
            recent = [
                p
                for p in plans
                if p.ctx is ctx
                and timedelta(days=4) < self.now - p.session.performed_at
                and per_lot[id(p.lot_plan)] > 1
            ][-6:]
            if recent:
                s = rng.choice(recent).session
                s.status = SessionStatus.ENTERED_IN_ERROR
                s.entered_in_error_reason = "Logged on the wrong patient's chart; re-entered."
                s.entered_in_error_at = s.performed_at + timedelta(hours=3)
                s.signed_at = s.signed_at or s.performed_at + timedelta(hours=1)
                s.signed_by = s.practitioner
                next(p for p in plans if p.session is s).lot_plan["used"] -= s.units_used
        self.insert(PersonalLink, links)
        self._write_lots()
        for p in plans:
            p.session.lot = p.lot_plan["row"]
        self.insert(TreatmentSession, [p.session for p in plans])
        # Addenda on a few signed sessions; record reads of the charts.
        addenda, accesses = [], []
        for p in plans:
            s = p.session
            # The first signed session always has one, so even a tiny demo shows an addendum.
            if s.status == SessionStatus.SIGNED and (not addenda or rng.random() < 0.03):
                at = self.clamp_past(s.signed_at + timedelta(days=rng.randint(1, 5)), s.signed_at)
                addenda.append(
                    self.stamp(
                        SessionAddendum(
                            session=s,
                            author=s.practitioner,
                            text=rng.choice(
                                [
                                    "Correction: volume applied was 3.0 ml, not 2.5 ml.",
                                    "Added: patient reported taking fish oil supplements.",
                                    "Photos taken before treatment are in the paper chart.",
                                ]
                            ),
                        ),
                        at,
                    )
                )
            if rng.random() < 0.5:
                accesses.append(
                    PatientAccess(
                        patient=s.patient,
                        user=s.practitioner,
                        action="view",
                        at=s.performed_at - timedelta(minutes=rng.randint(5, 30)),
                    )
                )
        for ctx in self.ctxs.values():
            for patient in rng.sample(ctx.patients, min(3, len(ctx.patients))):
                accesses.append(
                    PatientAccess(
                        patient=patient,
                        user=ctx.safety_lead,
                        action="export",
                        at=self.now - timedelta(days=rng.randint(1, 30)),
                    )
                )
        self.insert(SessionAddendum, addenda)
        self.insert(PatientAccess, accesses)
        return plans

    def _link_token(self, link: PersonalLink, issued: datetime) -> None:
        # The token is derived from the uuid exactly as patients.links does it, so the app can
        # print the same link again (aftercare QR) for the demo.
        self.stamp(link, issued)
        link.token_hash = PersonalLink.hash_token(_derive_token(link.uuid))

    def _write_lots(self) -> None:
        rows = []
        for ctx in self.ctxs.values():
            for plans in ctx.lots.values():
                for lp in plans:
                    expired = lp["expiry"] < ctx.today
                    if expired:
                        spare = self.rng.randint(1, 4)  # expired stock waiting for disposal
                    elif lp.get("low"):
                        spare = max(1, ctx.clinic.low_stock_threshold - 2)
                    elif lp["received"] > ctx.today - timedelta(days=20):
                        spare = self.rng.randint(40, 80)
                    else:
                        spare = self.rng.randint(12, 40)
                    received_at = self.local(ctx, lp["received"], 10 * 60)
                    lot = ProductLot(
                        product=lp["product"],
                        lot_number=lp["number"],
                        expiry_date=lp["expiry"],
                        received_on=lp["received"],
                        quantity_received=lp["used"] + spare,
                        quantity_on_hand=spare,
                        supplier=f"{lp['product'].manufacturer} (direct)",
                        certificate_ref=f"CoA-{lp['number']}",
                    )
                    self.stamp(lot, received_at, ctx.safety_lead)
                    if lp.get("quarantined_on"):
                        changed = self.local(ctx, lp["quarantined_on"], 17 * 60)
                        lot.status = LotStatus.QUARANTINED
                        lot.status_reason = QUARANTINE_REASONS[ctx.clinic.name]
                        lot.status_changed_at = changed
                        lot.status_changed_by = ctx.safety_lead
                        lot.updated_at = changed
                    if lp.get("low"):
                        lot.low_stock_alerted_at = self.now - timedelta(days=2)
                    lp["row"] = lot
                    rows.append(lot)
        self.insert(ProductLot, rows)

    # -- stage 5: check-ins, messages, answers --------------------------------------------

    def build_followup(self, plans: list[SessionPlan]) -> None:
        checkins: list[CheckIn] = []
        links: list[PersonalLink] = []
        for p in plans:
            s, ctx = p.session, p.ctx
            reachable = pick_channel(s.patient) is not None
            for step in self.steps[ctx.clinic.name]:
                due = ctx.clinic.outside_quiet_hours(s.performed_at + step.offset)
                c = CheckIn(session=s, step_code=step.code, step_label=step.label, due_at=due)
                self.stamp(c, s.performed_at, updated=s.performed_at)
                c.plan = {"reachable": reachable, "step": step.code}
                self._checkin_state(c, s, reachable, links)
                checkins.append(c)
        self._force_coverage(checkins, links)
        self.insert(PersonalLink, links)
        self.insert(CheckIn, checkins)
        messages, calls = self._messages(plans, checkins)
        self._answers(plans, checkins, messages, calls)

    def _checkin_state(
        self, c: CheckIn, s: TreatmentSession, reachable: bool, links: list[PersonalLink]
    ) -> None:
        rng = self.rng
        if s.status == SessionStatus.ENTERED_IN_ERROR and c.due_at > s.entered_in_error_at:
            c.state = CheckInState.CANCELLED
            c.updated_at = s.entered_in_error_at
            return
        if c.due_at > self.now:
            c.state = CheckInState.SCHEDULED
            return
        age = self.now - c.due_at
        if not reachable:
            c.state = CheckInState.MISSED
            c.updated_at = c.due_at
            return
        c.sent_at = c.due_at + timedelta(seconds=rng.randint(20, 400))
        if c.sent_at > self.now:
            c.state, c.sent_at = CheckInState.QUEUED, None
            return
        early = c.step_code in {"d1", "d3"}
        reaction_share = 0.28 if early else (0.16 if c.step_code in {"d7", "d14"} else 0.08)
        if age < REMIND_AFTER:
            state = self.pick({"sent": 55, "answered": 45})
        elif age < REMIND_AFTER + CALL_AFTER_REMINDER:
            state = self.pick({"reminded": 50, "answered": 50})
        else:
            state = self.pick({"answered": 80, "missed": 14, "failed": 4, "late": 2})
        if state == "answered":
            state = "answered_reactions" if rng.random() < reaction_share else "answered_fine"
        link = PersonalLink(
            patient=s.patient, purpose=LinkPurpose.CHECKIN, expires_at=c.sent_at + timedelta(7)
        )
        self._link_token(link, c.sent_at)
        if state == "failed":
            c.state, c.sent_at = CheckInState.FAILED, None
            c.plan["message"] = MessageState.FAILED
            c.updated_at = c.due_at + timedelta(minutes=5)
            return
        if state == "late":  # the worker was down: too late to send, a call instead
            c.state, c.sent_at = CheckInState.MISSED, None
            c.plan["message"] = MessageState.MISSED
            c.updated_at = c.due_at + timedelta(hours=49)
            return
        links.append(link)
        c.link = link
        c.plan["message"] = MessageState.SENT
        c.updated_at = c.sent_at
        if state == "sent":
            c.state = CheckInState.SENT
        elif state in {"reminded", "missed"}:
            c.reminded_at = c.sent_at + REMIND_AFTER + timedelta(minutes=rng.randint(0, 10))
            link.revoked_at = c.reminded_at
            second = PersonalLink(
                patient=s.patient,
                purpose=LinkPurpose.CHECKIN,
                expires_at=c.reminded_at + timedelta(7),
            )
            self._link_token(second, c.reminded_at)
            links.append(second)
            c.link = second
            c.plan["reminder"] = MessageState.SENT
            c.state = CheckInState.REMINDED if state == "reminded" else CheckInState.MISSED
            c.updated_at = c.reminded_at
            if state == "missed":
                c.updated_at = c.reminded_at + CALL_AFTER_REMINDER
                c.plan["call"] = True
        else:
            answer_delay = timedelta(minutes=rng.randint(3, 60 * 30))
            c.answered_at = max(
                c.sent_at, min(c.sent_at + answer_delay, self.now - timedelta(minutes=2))
            )
            c.state = state
            c.updated_at = c.answered_at
            link.last_used_at = c.answered_at
            link.use_count = 1

    def _force_coverage(self, checkins: list[CheckIn], links: list[PersonalLink]) -> None:
        """Make sure the demo shows every state at each clinic: the most recent past check-ins
        of reachable patients become the missing ones (queued, being delivered, sent, ...)."""
        for ctx in self.ctxs.values():
            pool = [
                c
                for c in checkins
                if c.session.clinic is ctx.clinic
                and c.plan["reachable"]
                and c.due_at <= self.now
                and c.state not in {CheckInState.CANCELLED}
                and c.state != CheckInState.ANSWERED_REACTIONS
            ]
            pool.sort(key=lambda c: c.due_at, reverse=True)
            present = {c.state for c in checkins if c.session.clinic is ctx.clinic}
            present_msgs = {c.plan.get("message") for c in pool}
            wanted = [
                ("missed", CheckInState.MISSED not in present),
                ("answered_reactions", CheckInState.ANSWERED_REACTIONS not in present),
                ("queued_pending", CheckInState.QUEUED not in present),
                ("queued_claimed", True),
                ("sent", CheckInState.SENT not in present),
                ("reminded", CheckInState.REMINDED not in present),
                ("failed", CheckInState.FAILED not in present),
                ("late", MessageState.MISSED not in present_msgs),
                ("answered_fine", CheckInState.ANSWERED_FINE not in present),
            ]
            for kind, missing in wanted:
                # Unanswered-then-called and answered ones need two days behind them.
                old = kind in {"missed", "answered_reactions"}
                fits = [c for c in pool if not old or self.now - c.due_at > timedelta(days=3)]
                if not missing or not fits:
                    continue
                c = fits[0]
                pool.remove(c)
                if c.link is not None and c.link in links:
                    links.remove(c.link)
                for attr in ("link", "sent_at", "reminded_at", "answered_at"):
                    setattr(c, attr, None)
                c.plan.pop("reminder", None)
                c.plan.pop("call", None)
                if kind.startswith("queued"):
                    c.state = CheckInState.QUEUED
                    c.plan["message"] = (
                        MessageState.PENDING if kind == "queued_pending" else MessageState.CLAIMED
                    )
                elif kind == "failed":
                    c.state = CheckInState.FAILED
                    c.plan["message"] = MessageState.FAILED
                elif kind == "late":
                    c.state = CheckInState.MISSED
                    c.plan["message"] = MessageState.MISSED
                else:
                    c.sent_at = min(c.due_at + timedelta(minutes=2), self.now)
                    link = PersonalLink(
                        patient=c.session.patient,
                        purpose=LinkPurpose.CHECKIN,
                        expires_at=c.sent_at + timedelta(7),
                    )
                    self._link_token(link, c.sent_at)
                    links.append(link)
                    c.link = link
                    c.plan["message"] = MessageState.SENT
                    if kind == "sent":
                        c.state = CheckInState.SENT
                    elif kind.startswith("answered"):
                        c.state = kind
                        c.answered_at = min(c.sent_at + timedelta(minutes=30), self.now)
                    elif kind == "missed":
                        c.state = CheckInState.MISSED
                        c.reminded_at = c.sent_at + REMIND_AFTER
                        c.plan["reminder"] = MessageState.SENT
                        c.plan["call"] = True
                    else:
                        c.state = CheckInState.REMINDED
                        c.reminded_at = c.sent_at
                        c.plan["reminder"] = MessageState.SENT
                c.updated_at = max(c.created_at, min(c.due_at, self.now))

    def _message(
        self,
        ctx: ClinicCtx,
        *,
        kind: str,
        key: str,
        due: datetime,
        state: str,
        patient: Patient | None = None,
        to: str = "",
        subject: str = "",
        body: str = "",
        context: dict | None = None,
    ) -> OutboxMessage | None:
        rng = self.rng
        if patient is not None:
            channel = pick_channel(patient)
            if channel is None:
                if state not in {MessageState.SUPPRESSED, MessageState.CANCELLED}:
                    return None
                channel = patient.preferred_channel
            to = patient.email if channel == Channel.EMAIL else patient.phone
            to = to or patient.email or patient.phone
        else:
            channel = Channel.EMAIL
        m = OutboxMessage(
            clinic=ctx.clinic,
            patient=patient,
            kind=kind,
            channel=channel,
            to_address=to,
            subject=subject if channel == Channel.EMAIL else "",
            body=body,
            context=context or {},
            idempotency_key=key,
            due_at=due,
            state=state,
        )
        self.stamp(m, min(due, self.now) - timedelta(minutes=1))
        if state == MessageState.SENT:
            m.sent_at = min(due + timedelta(seconds=rng.randint(5, 300)), self.now)
            m.attempts = 1 if rng.random() < 0.95 else 2
            m.provider_message_id = (
                f"SM{self.uid().hex}" if channel == Channel.SMS else f"<{self.uid().hex}@mail.demo>"
            )
            m.updated_at = m.sent_at
        elif state == MessageState.CLAIMED:
            m.claim_token = self.uid()
            m.lease_expires_at = self.now + timedelta(minutes=2)
            m.attempts = 1
        elif state == MessageState.FAILED:
            m.attempts = 5
            m.last_error = (
                "Carrier 30003: unreachable destination handset."
                if channel == Channel.SMS
                else "550 5.1.1 The email account that you tried to reach does not exist."
            )
            m.updated_at = min(due + timedelta(hours=3), self.now)
        elif state == MessageState.MISSED:
            m.last_error = "More than 48 h overdue."
            m.updated_at = min(due + timedelta(hours=49), self.now)
        elif state == MessageState.SUPPRESSED:
            m.last_error = (
                "Patient replied STOP." if channel == Channel.SMS else "Email address bounced."
            )
        elif state == MessageState.CANCELLED:
            m.last_error = "Appointment cancelled."
        return m

    def _messages(
        self, plans: list[SessionPlan], checkins: list[CheckIn]
    ) -> tuple[list[OutboxMessage], list[CallTask]]:
        messages: list[OutboxMessage] = []
        calls: list[CallTask] = []
        checkin_text = "Hi {name}, {clinic} would like to know how your skin is doing since your "
        checkin_text += "treatment. It takes a minute: [personal link]"
        for c in checkins:
            s = c.session
            ctx = self.ctxs[s.clinic.name]
            patient = s.patient
            state = c.plan.get("message")
            body = checkin_text.format(name=patient.first_name, clinic=ctx.clinic.name)
            subject = f"{ctx.clinic.name}: how are you since your treatment?"
            if state:
                m = self._message(
                    ctx,
                    patient=patient,
                    kind=MessageKind.CHECKIN,
                    key=f"checkin:{c.pk}",
                    due=c.due_at,
                    state=state,
                    subject=subject,
                    body=body if state == MessageState.SENT else "",
                    context={"checkin": c.pk},
                )
                messages.append(m)
                if state in {MessageState.FAILED, MessageState.MISSED}:
                    reason = (
                        CallReason.FAILED_MESSAGE
                        if state == MessageState.FAILED
                        else CallReason.MISSED_MESSAGE
                    )
                    calls.append(self._call(ctx, patient, reason, "message:", m, m.updated_at))
            if c.plan.get("reminder"):
                m = self._message(
                    ctx,
                    patient=patient,
                    kind=MessageKind.CHECKIN_REMINDER,
                    key=f"checkin:{c.pk}:reminder",
                    due=c.reminded_at,
                    state=c.plan["reminder"],
                    subject=subject,
                    body=body.replace("would like", "A reminder: would like"),
                    context={"checkin": c.pk},
                )
                messages.append(m)
            if c.plan.get("call"):
                calls.append(
                    self._call(
                        ctx,
                        patient,
                        CallReason.UNANSWERED_CHECKIN,
                        f"checkin:{c.pk}",
                        None,
                        c.reminded_at + CALL_AFTER_REMINDER,
                    )
                )
            elif c.state == CheckInState.MISSED and not c.plan["reachable"]:
                calls.append(
                    self._call(
                        ctx,
                        patient,
                        CallReason.UNANSWERED_CHECKIN,
                        f"unreachable:checkin:{c.pk}",
                        None,
                        c.due_at,
                    )
                )
        # Aftercare for every session; suppressed where the channel stopped after the visit.
        for p in plans:
            s, ctx = p.session, p.ctx
            patient = s.patient
            if not patient.consent_to_contact:
                continue
            state = MessageState.SENT
            if self.now - s.performed_at < timedelta(minutes=50):
                state = MessageState.PENDING
            m = self._message(
                ctx,
                patient=patient,
                kind=MessageKind.AFTERCARE,
                key=f"aftercare:{s.pk}",
                due=s.performed_at + timedelta(minutes=50),
                state=state,
                subject=f"{ctx.clinic.name}: your aftercare",
                body=AFTERCARE_TEXT,
                context={"session": s.pk},
            )
            if m is not None:
                messages.append(m)
        # Appointment reminders the day before; cancelled with a cancelled appointment.
        for a in Appointment.objects.filter(
            clinic__in=[c.clinic for c in self.ctxs.values()],
            starts_at__gte=self.now - timedelta(days=30),
        ).select_related("patient", "clinic"):
            ctx = self.ctxs[a.clinic.name]
            due = a.starts_at - timedelta(days=1)
            if a.status == AppointmentStatus.CANCELLED:
                state = MessageState.CANCELLED
            elif a.status == AppointmentStatus.NO_SHOW or due <= self.now:
                state = MessageState.SENT
            else:
                state = MessageState.PENDING
            local = ctx.clinic.local(a.starts_at)
            m = self._message(
                ctx,
                patient=a.patient,
                kind=MessageKind.APPOINTMENT_REMINDER,
                key=f"appointment:{a.pk}:reminder",
                due=min(due, self.now) if state == MessageState.SENT else due,
                state=state,
                subject=f"{ctx.clinic.name}: see you tomorrow",
                body=f"Reminder: your appointment is on {local:%a %d %b at %H:%M}. "
                f"To change it, call {ctx.clinic.phone}.",
                context={"appointment": a.pk},
            )
            if m is not None:
                messages.append(m)
        # Maintenance reminders for finished courses.
        for series in TreatmentSeries.objects.filter(
            clinic__in=[c.clinic for c in self.ctxs.values()], status=SeriesStatus.COMPLETED
        ).select_related("patient", "clinic"):
            ctx = self.ctxs[series.clinic.name]
            due = self.local(ctx, series.maintenance_due_on - timedelta(days=14), 10 * 60)
            m = self._message(
                ctx,
                patient=series.patient,
                kind=MessageKind.MAINTENANCE,
                key=f"maintenance:{series.pk}",
                due=due,
                state=MessageState.SENT if due <= self.now else MessageState.PENDING,
                subject=f"{ctx.clinic.name}: time for a maintenance session",
                body="Your course finished a while ago; a maintenance session keeps the result. "
                f"Call {ctx.clinic.phone} to book.",
                context={"series": series.pk},
            )
            if m is not None:
                messages.append(m)
        # A STOP reply or a bounce suppresses what was still queued on that channel.
        for ctx in self.ctxs.values():
            for patient in ctx.patients:
                for stopped, channel, to in (
                    (patient.sms_stopped_at, Channel.SMS, patient.phone),
                    (patient.email_bounced_at, Channel.EMAIL, patient.email),
                ):
                    if stopped is None or not to:
                        continue
                    m = self._message(
                        ctx,
                        kind=MessageKind.MAINTENANCE,
                        key=f"maintenance:patient:{patient.pk}:{channel}",
                        due=stopped + timedelta(hours=2),
                        state=MessageState.SUPPRESSED,
                        to=to,
                        subject=f"{ctx.clinic.name}: time for a maintenance session",
                        context={"patient": patient.pk},
                    )
                    m.patient, m.channel = patient, channel
                    m.last_error = (
                        "Patient replied STOP."
                        if channel == Channel.SMS
                        else "Email address bounced."
                    )
                    messages.append(m)
        # Staff alerts: low stock and quarantine notices to the safety lead.
        for ctx in self.ctxs.values():
            for lp in (lp for lots in ctx.lots.values() for lp in lots):
                lot = lp["row"]
                email = ctx.safety_lead.email
                if lot.low_stock_alerted_at:
                    messages.append(
                        self._message(
                            ctx,
                            kind=MessageKind.LOW_STOCK_ALERT,
                            key=f"lowstock:{lot.pk}:{email}",
                            due=lot.low_stock_alerted_at,
                            state=MessageState.SENT,
                            to=email,
                            subject=f"Low stock: {lot}",
                            body=f"{lot} is down to {lot.quantity_on_hand} units.",
                            context={"lot": lot.pk},
                        )
                    )
                if lot.status == LotStatus.QUARANTINED:
                    messages.append(
                        self._message(
                            ctx,
                            kind=MessageKind.STAFF_NOTICE,
                            key=f"quarantine:{lot.pk}:{email}",
                            due=lot.status_changed_at,
                            state=MessageState.SENT,
                            to=email,
                            subject=f"Quarantined: {lot}",
                            body=f"{lot} was quarantined: {lot.status_reason}",
                            context={"lot": lot.pk},
                        )
                    )
        self.insert(OutboxMessage, messages)
        # Point the check-ins at their messages by the machinery's keys: one UPDATE per column
        # (bulk_update's CASE per row costs seconds here).
        seeded = CheckIn.objects.filter(session__clinic__in=[c.clinic for c in self.ctxs.values()])
        for column, suffix in (("message", ""), ("reminder", ":reminder")):
            key = Concat(Value("checkin:"), Cast(OuterRef("pk"), CharField()), Value(suffix))
            seeded.update(
                **{
                    column: Subquery(
                        OutboxMessage.objects.filter(idempotency_key=key).values("pk")[:1]
                    )
                }
            )
        return messages, calls

    def _call(
        self,
        ctx: ClinicCtx,
        patient: Patient,
        reason: str,
        key: str,
        message: OutboxMessage | None,
        due: datetime,
    ) -> CallTask:
        task = CallTask(
            clinic=ctx.clinic, patient=patient, reason=reason, message=message, due_at=due
        )
        task.dedupe_key = key if message is None else None  # set once the message has a pk
        self.stamp(task, min(due, self.now))
        age = self.now - due
        if age > timedelta(days=5):
            if self.rng.random() < 0.08:
                task.state = CallState.CANCELLED
                task.outcome = "Patient came in for their next session; asked in person."
            else:
                task.state = CallState.DONE
                task.done_by = ctx.front_desk
                task.done_at = due + timedelta(hours=self.rng.randint(1, 48))
                task.outcome = self.rng.choice(CALL_OUTCOMES)
            task.updated_at = task.done_at or due + timedelta(days=1)
            task._history_user = ctx.front_desk
        return task

    def _answers(
        self,
        plans: list[SessionPlan],
        checkins: list[CheckIn],
        messages: list[OutboxMessage],
        calls: list[CallTask],
    ) -> None:
        rng = self.rng
        subs: list[Submission] = []
        reports: list[ReactionReport] = []
        for c in checkins:
            if c.state not in (CheckInState.ANSWERED_FINE, CheckInState.ANSWERED_REACTIONS):
                continue
            s = c.session
            sub = self._submission(s, c.answered_at, ReportSource.CHECKIN, checkin=c, link=c.link)
            sub.all_fine = c.state == CheckInState.ANSWERED_FINE
            subs.append(sub)
            if not sub.all_fine:
                for _ in range(rng.choices([1, 2, 3], [65, 28, 7])[0]):
                    reports.append(self._report(sub, c.step_code))
        for p in plans:
            s = p.session
            if s.status == SessionStatus.ENTERED_IN_ERROR:
                continue
            roll = rng.random()
            if roll < 0.07:
                at = self.clamp_past(
                    s.performed_at + timedelta(hours=rng.randint(5, 24 * 20)), s.performed_at
                )
                if at >= s.report_link.expires_at:
                    continue
                sub = self._submission(s, at, ReportSource.PATIENT_FORM, link=s.report_link)
                s.report_link.last_used_at = at
                s.report_link.use_count += 1
            elif roll < 0.10:
                at = self.clamp_past(
                    s.performed_at + timedelta(hours=rng.randint(20, 24 * 10)), s.performed_at
                )
                sub = self._submission(s, at, ReportSource.STAFF, reported_by=s.practitioner)
                sub.free_text = "Patient phoned the front desk; details taken by the practitioner."
            else:
                continue
            subs.append(sub)
            for _ in range(rng.choices([1, 2], [80, 20])[0]):
                reports.append(self._report(sub, "any"))
        self._cover_terms(subs, reports)
        # Used report links count their uses.
        used = [p.session.report_link for p in plans if p.session.report_link.use_count]
        PersonalLink.objects.bulk_update(used, ["last_used_at", "use_count"], batch_size=500)
        flagged = {id(r.submission) for r in reports if r.term.red_flag}
        for sub in subs:
            sub.red_flag = id(sub) in flagged
        self.insert(Submission, subs)
        self.insert(ReactionReport, reports)
        self._assess(reports)
        alarms, alerts = self._alarms(subs, reports)
        self.insert(OutboxMessage, alerts)
        for t in calls:
            if t.dedupe_key is None:
                t.dedupe_key = f"message:{t.message.pk}"
        self.insert(CallTask, calls)
        self._signals(plans, reports)
        _ = messages, alarms

    def _submission(
        self,
        s: TreatmentSession,
        at: datetime,
        source: str,
        *,
        checkin: CheckIn | None = None,
        link: PersonalLink | None = None,
        reported_by: User | None = None,
    ) -> Submission:
        sub = Submission(
            clinic=s.clinic,
            patient=s.patient,
            session=s,
            checkin=checkin,
            link=link,
            submission_id=self.uid(),
            source=source,
            reported_by=reported_by,
            language=s.patient.language,
        )
        return self.stamp(sub, at)

    def _report(self, sub: Submission, step: str, term_code: str | None = None) -> ReactionReport:
        rng = self.rng
        s = sub.session
        ctx = self.ctxs[s.clinic.name]
        weights = dict(TERM_WEIGHTS[step])
        if s.patient.on_anticoagulants and "bruising" in weights:
            weights["bruising"] *= 3
        if (s.patient.fitzpatrick_type or 0) >= 4 and "hyperpigmentation" in weights:
            weights["hyperpigmentation"] *= 2
        code = term_code or self.pick(weights)
        term = self.terms[code]
        performed_day = ctx.clinic.local(s.performed_at).date()
        reported_day = ctx.clinic.local(sub.created_at).date()
        lo, hi = STEP_ONSET[step if term_code is None else "any"]
        if code == "granuloma":
            lo, hi = 14, 88
        onset = performed_day + timedelta(days=rng.randint(lo, hi))
        onset = max(performed_day, min(onset, reported_day))
        severity = 3 if term.red_flag else rng.choices([1, 2, 3], [60, 31, 9])[0]
        report = ReactionReport(
            clinic=s.clinic,
            patient=s.patient,
            session=s,
            submission=sub,
            term=term,
            other_text=rng.choice(OTHER_TEXTS) if term.is_other else "",
            onset_date=onset,
            patient_severity=severity,
            stopped_activities=severity >= 2 and rng.random() < 0.6,
            sought_care=term.red_flag or term.sentinel or (severity == 3 and rng.random() < 0.5),
            source=sub.source,
        )
        usual = term.usual_course_days or 30
        lasted = (reported_day - onset).days
        if lasted > 0 and lasted >= rng.uniform(0.5, 1.5) * usual:
            report.ongoing = False
            report.ended_on = onset + timedelta(days=rng.randint(0, lasted))
        else:
            report.ongoing = True
            if term.usual_course_days and onset + timedelta(days=usual) < ctx.today:
                report.prolonged_since = onset + timedelta(days=usual + 1)
        return self.stamp(report, sub.created_at)

    def _cover_terms(self, subs: list[Submission], reports: list[ReactionReport]) -> None:
        """Every term and every patient-rated severity appears at each clinic."""
        for ctx in self.ctxs.values():
            here = [s for s in subs if s.clinic is ctx.clinic and not s.all_fine]
            if not here:
                continue
            seen = {r.term.code for r in reports if r.clinic is ctx.clinic}
            for code in self.terms:
                if code not in seen:
                    reports.append(self._report(self.rng.choice(here), "any", term_code=code))
            severities = {r.patient_severity for r in reports if r.clinic is ctx.clinic}
            for severity in {1, 2, 3} - severities:
                r = next(r for r in reports if r.clinic is ctx.clinic and not r.term.red_flag)
                r.patient_severity = severity

    def _assess(self, reports: list[ReactionReport]) -> None:
        rng = self.rng
        rows = []
        for r in reports:
            ctx = self.ctxs[r.clinic.name]
            arrived = r.created_at
            age = self.now - arrived
            a = Assessment(report=r)
            self.stamp(a, arrived)
            serious = r.term.red_flag or r.term.sentinel
            if r.term.red_flag:
                statuses = (
                    {"reviewed": 40, "closed": 60} if age > timedelta(days=3) else {"reviewed": 100}
                )
            elif age > timedelta(days=14):
                statuses = {"closed": 85, "reviewed": 15}
            elif age > timedelta(days=3):
                statuses = {"new": 20, "reviewed": 50, "closed": 30}
            else:
                statuses = {"new": 70, "reviewed": 30}
            a.triage_status = self.pick(statuses)
            if a.triage_status != TriageStatus.NEW:
                a.assessed_by = rng.choice(ctx.clinicians)
                delay = timedelta(minutes=rng.randint(10, 60 if serious else 60 * 48))
                a.assessed_at = self.clamp_past(arrived + delay, arrived)
                a.updated_at = a.assessed_at
                a._history_user = a.assessed_by
                grade = min(4, r.patient_severity + (1 if rng.random() < 0.1 else 0))
                if r.term.code in {"breathing_difficulty", "face_throat_swelling"}:
                    grade = rng.choice([3, 4])
                a.severity_grade = grade
                a.serious_life_threatening = grade == 4
                a.serious_hospitalisation = r.term.code in {
                    "spreading_hot_redness",
                    "breathing_difficulty",
                } or (grade == 4)
                a.serious_medically_important = serious
                a.action_taken = ACTIONS[r.term.code]
                a.causality = LIKELY_CAUSALITY[r.term.code]
                if rng.random() < 0.2:
                    a.causality = rng.choice(Causality.values)
                if a.triage_status == TriageStatus.CLOSED:
                    if r.term.code in {"hyperpigmentation", "granuloma"} and rng.random() < 0.4:
                        a.outcome = self.pick(
                            {Outcome.RECOVERED_WITH_SEQUELAE: 2, Outcome.NOT_RECOVERED: 1}
                        )
                    else:
                        a.outcome = self.pick({Outcome.RECOVERED: 92, Outcome.UNKNOWN: 8})
                    a.notes = "Closed at follow-up."
                else:
                    a.outcome = Outcome.RECOVERED if not r.ongoing else Outcome.RECOVERING
                    if rng.random() < 0.3:
                        a.outcome = ""
            rows.append(a)
        # Every triage state shows at each clinic: the newest plain report waits for triage.
        for ctx in self.ctxs.values():
            here = [a for a in rows if a.report.clinic is ctx.clinic]
            if here and not any(a.triage_status == TriageStatus.NEW for a in here):
                a = max((a for a in here if not a.report.term.red_flag), key=lambda a: a.created_at)
                a.triage_status, a.severity_grade, a.assessed_by, a.assessed_at = (
                    "new",
                    None,
                    None,
                    None,
                )
                a.outcome = a.causality = a.action_taken = a.notes = ""
                a.serious_life_threatening = a.serious_hospitalisation = False
                a.serious_medically_important = False
                a.updated_at = a.created_at
        self.insert(Assessment, rows)

    def _alarms(
        self, subs: list[Submission], reports: list[ReactionReport]
    ) -> tuple[list[Alarm], list[OutboxMessage]]:
        rng = self.rng
        flags: dict[int, list[ReactionReport]] = {}
        for r in reports:
            if r.term.red_flag:
                flags.setdefault(id(r.submission), []).append(r)
        alarms, alerts = [], []
        flagged = sorted((s for s in subs if s.red_flag), key=lambda s: s.created_at)
        latest = {}
        for sub in flagged:
            latest[sub.clinic.name] = sub
        for sub in flagged:
            ctx = self.ctxs[sub.clinic.name]
            alarm = Alarm(
                clinic=sub.clinic,
                patient=sub.patient,
                session=sub.session,
                submission=sub,
                severity=max(r.patient_severity for r in flags[id(sub)]),
                raised_at=sub.created_at,
                last_reported_at=sub.created_at,
                alerted_at=sub.created_at,
            )
            self.stamp(alarm, sub.created_at)
            if latest[sub.clinic.name] is not sub:
                alarm.acknowledged_by = rng.choice(ctx.clinicians)
                alarm.acknowledged_at = sub.created_at + timedelta(minutes=rng.randint(3, 25))
                alarm.acknowledgement_note = rng.choice(
                    [
                        "Called the patient; advised the ER. Follow-up booked.",
                        "Patient already at the ER; will call tomorrow.",
                        "Spoke to the patient: swelling settling after antihistamine.",
                    ]
                )
                alarm.updated_at = alarm.acknowledged_at
                alarm._history_user = alarm.acknowledged_by
            alarms.append(alarm)
            alerts.append(
                self._message(
                    ctx,
                    kind=MessageKind.RED_FLAG_ALERT,
                    key=f"redflag:{sub.pk}",
                    due=sub.created_at,
                    state=MessageState.SENT,
                    to=ctx.clinic.on_call_email,
                    subject=f"RED FLAG: patient report at {ctx.clinic.name}",
                    body="A patient reported a red-flag reaction. Open the dashboard now.",
                    context={"submission": sub.pk},
                )
            )
        self.insert(Alarm, alarms)
        for alarm in alarms:
            alarm.submission.alarm = alarm
        Submission.objects.bulk_update([a.submission for a in alarms], ["alarm"], batch_size=500)
        Alarm.terms.through.objects.bulk_create(
            [
                Alarm.terms.through(alarm_id=a.pk, reactionterm_id=term_id)
                for a in alarms
                for term_id in {r.term_id for r in flags[id(a.submission)]}
            ]
        )
        return alarms, alerts

    def _signals(self, plans: list[SessionPlan], reports: list[ReactionReport]) -> None:
        rng = self.rng
        exposure = Counter(
            p.session.lot.pk for p in plans if p.session.status != SessionStatus.ENTERED_IN_ERROR
        )
        signals = []
        for r in reports:
            if not r.term.sentinel:
                continue
            lot = r.session.lot
            ctx = self.ctxs[r.clinic.name]
            s = LotSignal(
                lot=lot,
                kind=SignalKind.SENTINEL,
                term=r.term,
                report=r,
                dedupe_key=f"sentinel:{r.pk}",
                cases=1,
                exposure=exposure[lot.pk],
            )
            self.stamp(s, r.created_at + timedelta(minutes=5))
            if self.now - r.created_at > timedelta(days=7):
                s.status = rng.choice([SignalStatus.ACTIONED, SignalStatus.DISMISSED])
                s.status_reason = (
                    "Single event with a clear alternative cause (patient picked at the site)."
                    if s.status == SignalStatus.DISMISSED
                    else "Patients of this lot contacted; lot sterility certificate requested."
                )
                s.reviewed_by = ctx.safety_lead
                s.reviewed_at = r.created_at + timedelta(days=rng.randint(1, 5))
                s.updated_at = s.reviewed_at
            elif self.now - r.created_at > timedelta(days=2):
                s.status = SignalStatus.UNDER_REVIEW
            signals.append(s)
        # Rate signals are not made up here: demo_seed runs the real computation
        # (adverse_events/signals.py) on the summary tables once the data is in.
        self.insert(LotSignal, signals)

    # -- stage 7: a recall, through the real services (after the backdated inserts) ----------

    def build_recall(self) -> None:
        """New York's quarantined lot (two infections) recalled today and its patients
        messaged: half the notices delivered, a third of those acknowledged."""
        ctx = self.ctxs.get(NEW_YORK)
        held = [
            lp["row"]
            for lots in (ctx.lots.values() if ctx else [])
            for lp in lots
            if lp["row"].status == LotStatus.QUARANTINED
        ]
        if not held:
            return
        recall = lot_recall(lot=held[0], user=ctx.safety_lead, reason=RECALL_REASON)
        recall_message_all(recall=recall, user=ctx.safety_lead)
        notices = list(recall.notices.filter(message__isnull=False).order_by("pk"))
        now = timezone.now()
        for i, notice in enumerate(notices[: len(notices) // 2 + 1]):
            OutboxMessage.objects.filter(pk=notice.message_id).update(
                state=MessageState.SENT, sent_at=now, attempts=1
            )
            notice.reached_at = now
            if i % 3 == 0:
                notice.acknowledged_at = now + timedelta(hours=1)
            notice.save(update_fields=["reached_at", "acknowledged_at", "updated_at"])

    # -- the whole thing -------------------------------------------------------------------

    def run(self) -> None:
        self.build_clinics()
        self.build_staff()
        self.build_products()
        self.build_patients()
        appointments = self.build_series()
        plans = self.build_sessions(appointments)
        self.build_followup(plans)
        self.build_fact_confirmations()

    def build_fact_confirmations(self) -> None:
        """Most patients' screening facts confirmed lately, some too long ago to treat on
        without asking again, a few never. Its own random source (drawn last), so the rest of
        the demo is the same with or without it (`stamp` would draw the shared uuid source)."""
        rng = random.Random("demo-screening-facts")
        rows = []
        for ctx in self.ctxs.values():
            for patient in ctx.patients:
                roll = rng.random()
                if patient.entered_in_error or roll < 0.1:
                    continue  # never confirmed
                days = rng.randint(1, 80) if roll < 0.8 else rng.randint(100, 240)
                at = self.now - timedelta(days=days, minutes=rng.randint(0, 600))
                by = rng.choice(ctx.clinicians)
                for fact in ScreeningFact:
                    row = ScreeningFactConfirmation(
                        patient=patient, fact=fact.value, confirmed_at=at, confirmed_by=by
                    )
                    row.uuid = uuid.UUID(int=rng.getrandbits(128), version=4)
                    row.created_at = row.updated_at = row._history_date = at
                    row._history_user = by
                    rows.append(row)
        self.insert(ScreeningFactConfirmation, rows)


@dataclass
class SeedResult:
    seeded: bool
    seconds: float
    counts: dict[str, int]
    staff: list[StaffSpec]


def demo_already_seeded() -> bool:
    return Clinic.objects.filter(name__in=[SEOUL, NEW_YORK]).exists()


def demo_seed(*, scale: float = 1.0, seed: int = 2026, now: datetime | None = None) -> SeedResult:
    """Build the demo in one transaction; a database that has it already is left alone."""
    started = timer.perf_counter()
    if demo_already_seeded():
        return SeedResult(False, timer.perf_counter() - started, {}, list(STAFF))
    seeder = Seeder(scale=scale, seed=seed, now=now)
    backdated = [m for m in SEEDED_MODELS if m not in (User, PatientAccess)]
    with transaction.atomic(), _backdating(backdated):
        seeder.run()
    with transaction.atomic():
        seeder.build_recall()
    # The charts and lot signals read the summary tables: build them now, not at the first
    # beat, and compute the signals from them as the nightly run would.
    summaries_refresh()
    with transaction.atomic():
        signals_compute()
    counts = {m._meta.label: m.objects.count() for m in SEEDED_MODELS}
    staff = STAFF + extra_practitioners(scale)
    return SeedResult(True, timer.perf_counter() - started, counts, staff)
