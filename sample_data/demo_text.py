"""Classification and multiple-choice content for the demo trace, generated from phrase banks written for it.

Support tickets (intent) and product reviews (sentiment) are assembled from an opener, one core sentence of
the true label, optional details and a closer. Some texts carry a *distractor* (a sentence that mentions
another label's vocabulary), sarcasm or hedging: those are the hard ones, and the wrong answers of models go
to the distractor first. Quiz questions are generated procedurally (arithmetic, sequences, units) or drawn
from a small bank of well-known facts.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

INTENT_LABELS = ("billing", "bug", "feature_request", "account", "other")
SENTIMENT_LABELS = ("positive", "negative", "neutral")

_PRODUCTS = ("the mobile app", "the web dashboard", "the desktop client", "the API", "the reporting module",
             "the calendar sync", "the invoice export", "the team workspace")
_PLANS = ("Pro", "Team", "Business", "Starter")
_FEATURES = ("dark mode", "bulk export to CSV", "two-factor login with a hardware key", "a Gantt view",
             "keyboard shortcuts for tagging", "scheduled reports", "an audit log", "custom fields on tasks",
             "SSO with our identity provider", "offline mode")

INTENT_CORE: dict[str, tuple[str, ...]] = {
    "billing": (
        "I was charged {amount} twice this month for the {plan} plan.",
        "My invoice shows {amount} but the {plan} plan should cost less.",
        "Can you refund the {amount} charge from {date}? We downgraded before renewal.",
        "The card payment for our {plan} subscription failed and now there is a late fee.",
        "Why did the price of the {plan} plan go up without notice?",
        "I need a VAT invoice for the {amount} payment made on {date}.",
        "We cancelled in {month} but were still billed {amount}.",
    ),
    "bug": (
        "{product} crashes every time I open a project with more than {n} files.",
        "Since the last update, {product} shows a blank screen after login.",
        "Exporting from {product} produces an empty file.",
        "The search in {product} returns results from other folders.",
        "Notifications from {product} arrive {n} times for the same event.",
        "Dates in {product} are shifted by one day for users in Asia.",
        "Saving a task in {product} spins forever and never finishes.",
    ),
    "feature_request": (
        "It would be great if {product} supported {feature}.",
        "Please add {feature} — our team keeps asking for it.",
        "Is {feature} on the roadmap? We would upgrade for it.",
        "Could you let admins turn on {feature} for everyone?",
        "We would love {feature} in {product}.",
        "Any plans to offer {feature}? Competitors already have it.",
    ),
    "account": (
        "I can't log in; the password reset email never arrives.",
        "Please change the owner of our workspace to {email}.",
        "How do I delete my account and all my data?",
        "My account got locked after too many login attempts.",
        "I need to change the email address on my profile to {email}.",
        "Two-factor codes are rejected and I'm locked out of my account.",
        "Please merge my two accounts, {email} and my old work address.",
    ),
    "other": (
        "Do you have an office in {city}? We'd like to meet in person.",
        "Are you hiring support engineers?",
        "Can I get a copy of your security whitepaper for our procurement team?",
        "Who should I talk to about a partnership?",
        "Is there a student discount for universities in {city}?",
        "Great webinar yesterday, will the slides be shared?",
    ),
}

# Sentences that mention another label's vocabulary without being the request.
INTENT_DISTRACTORS: dict[str, tuple[str, ...]] = {
    "billing": ("Billing is fine, by the way.", "We pay annually, in case that matters.",
                "Our invoices all look correct."),
    "bug": ("The app itself works without errors.", "I don't think this is a bug.",
            "Nothing crashed, to be clear."),
    "feature_request": ("I'm not asking for a new feature here.", "No feature request, just this."),
    "account": ("I can log in to my account without problems.", "My account settings look normal."),
    "other": ("Also, thanks for the quick answers last time.",),
}
_OPENERS = ("", "", "Hi,", "Hello team,", "Hi support,", "Good morning,", "Hey,")
_CLOSERS = ("", "", "Thanks!", "Thanks in advance.", "Regards, {name}", "Please advise.", "Cheers")

REVIEW_CORE: dict[str, tuple[str, ...]] = {
    "positive": (
        "Absolutely love it, setup took five minutes.",
        "Works exactly as described and the battery lasts for days.",
        "Best purchase I've made this year.",
        "Sturdy, quiet and great value for the price.",
        "Customer service replaced mine within a week, very impressed.",
        "Does the job perfectly, would buy again.",
    ),
    "negative": (
        "Stopped working after two weeks.",
        "The strap broke on the first day and support never replied.",
        "Way too loud and the app keeps disconnecting.",
        "Arrived scratched and missing the charger.",
        "Not worth the money, it feels cheap.",
        "Returned it, the screen flickers constantly.",
    ),
    "neutral": (
        "It's okay, nothing special.",
        "Does what it says, no more, no less.",
        "Arrived on time. Haven't used it much yet.",
        "Average quality for an average price.",
        "Some things are good, some are not; it evens out.",
        "It works, though I expected a bit more for this price.",
    ),
}
_SARCASM = ("Great, another charger that dies after a week.", "Wow, five minutes of battery. Amazing engineering.",
            "Just what I needed: a speaker that only plays static. Love it.")
_HEDGES = {"positive": "Shipping was slow, but ", "negative": "The box looked nice, but ", "neutral": ""}
_REVIEW_ITEMS = ("headphones", "kettle", "fitness band", "desk lamp", "phone case", "speaker", "keyboard",
                 "backpack", "smart plug", "blender")


@dataclass
class TextItem:
    dataset: str
    text: str
    label: str
    labels: tuple[str, ...]
    difficulty: float
    distractor: str | None = None
    meta: dict = field(default_factory=dict)


def make_ticket(rng: random.Random) -> TextItem:
    label = rng.choices(INTENT_LABELS, weights=(26, 26, 18, 20, 10))[0]
    slots = {
        "amount": f"${rng.choice((9, 12, 19, 29, 49, 99, 149, 240))}.{rng.choice(('00', '99', '50'))}",
        "plan": rng.choice(_PLANS), "date": f"{rng.choice(('March', 'May', 'June', 'October'))} {rng.randint(1, 28)}",
        "month": rng.choice(("January", "April", "August", "November")), "product": rng.choice(_PRODUCTS),
        "n": rng.choice((2, 3, 50, 100, 200)), "feature": rng.choice(_FEATURES),
        "email": (f"{rng.choice(('ops', 'it', 'anna.k', 'li.wei', 'finance'))}@"
                  f"{rng.choice(('acme', 'globex', 'initech'))}.example"),
        "city": rng.choice(("Berlin", "Lagos", "Austin", "Osaka", "Lyon", "Pune")),
        "name": rng.choice(("Dana", "Omar", "Priya", "Tom", "Mei", "Lukas")),
    }
    parts = [rng.choice(_OPENERS), rng.choice(INTENT_CORE[label]).format(**slots)]
    difficulty = 0.0 if label != "other" else 1.0
    distractor = None
    if rng.random() < 0.22:
        distractor = rng.choice([lab for lab in INTENT_LABELS if lab != label])
        parts.insert(rng.choice((1, 2)), rng.choice(INTENT_DISTRACTORS[distractor]))
        difficulty += 1.5
    parts.append(rng.choice(_CLOSERS).format(**slots))
    text = " ".join(p for p in parts if p)
    text = text[0].upper() + text[1:]
    return TextItem("sim-support-tickets", text, label, INTENT_LABELS, difficulty + len(text) / 400, distractor)


def make_review(rng: random.Random) -> TextItem:
    label = rng.choices(SENTIMENT_LABELS, weights=(45, 35, 20))[0]
    item = rng.choice(_REVIEW_ITEMS)
    difficulty = 0.0 if label != "neutral" else 1.0
    distractor = None
    if label == "negative" and rng.random() < 0.18:
        core = rng.choice(_SARCASM)
        distractor, difficulty = "positive", difficulty + 2.0
    else:
        core = rng.choice(REVIEW_CORE[label])
        if label != "neutral" and rng.random() < 0.25:
            core = _HEDGES[label] + core[0].lower() + core[1:]
            distractor = "negative" if label == "positive" else "positive"
            difficulty += 1.0
    head = rng.choice((f"Bought this {item} last month.", f"My second {item} from this brand.", "",
                       f"Review of the {item}:", ""))
    text = " ".join(p for p in (head, core) if p)
    return TextItem("sim-product-reviews", text, label, SENTIMENT_LABELS, difficulty + len(text) / 300, distractor)


def confusion(item: TextItem, rng: random.Random) -> str:
    """The label a model gives when it gets `item` wrong: the distractor if there is one, else a neighbour."""
    if item.distractor and rng.random() < 0.75:
        return item.distractor
    near = {"billing": ("account", "other"), "bug": ("feature_request", "account"),
            "feature_request": ("bug", "other"), "account": ("bug", "billing"), "other": ("feature_request", "account"),
            "positive": ("neutral",), "negative": ("neutral",), "neutral": ("positive", "negative")}[item.label]
    return rng.choice(near)


def render_label(label: str, wrong_first: str | None, style_junk: float, rng: random.Random) -> str:
    """A raw classification answer naming `label`. With probability `style_junk` (and a `wrong_first` label
    to mention) the answer names another label first, which trips a naive parser."""
    shown = label.replace("_", " ") if rng.random() < 0.3 else label
    if wrong_first and rng.random() < style_junk:
        return rng.choice((f"Not {wrong_first} — I'd say this is {shown}.",
                           f"It mentions {wrong_first}, but the real issue is {shown}."))
    return rng.choice((
        shown, shown, f"Label: {shown}", f"{shown.capitalize()}", f"The ticket is about **{shown.title()}**.",
        f"Category: {shown}\nReason: based on the main request.", f"I would classify this as `{shown}`.",
        f"Answer: {shown}", f"{shown}\n",
    )) if label in INTENT_LABELS else rng.choice((
        shown, f"Sentiment: {shown.capitalize()}", f"{shown.upper()}", f"The review is {shown}.",
        f"Label: {shown}", f"**{shown.capitalize()}** — the customer's overall tone.", f"{shown}.",
    ))


def parse_label(raw: str, labels: tuple[str, ...]) -> str:
    """The recorded post-processing: the allowed label mentioned first (case-insensitive; an underscore may be
    written as a space or hyphen), or "" when none is mentioned."""
    low = raw.lower()
    best: tuple[int, str] | None = None
    for lab in labels:
        pat = r"(?<![a-z])" + re.escape(lab).replace("_", "[ _-]") + r"(?![a-z])"
        m = re.search(pat, low)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), lab)
    return best[1] if best else ""


# --------------------------------------------------------------------------------------------------------
# Quiz (multiple choice)
# --------------------------------------------------------------------------------------------------------
FACTS: tuple[tuple[str, str, tuple[str, str, str], float], ...] = (
    ("Which gas do green plants take in from the air for photosynthesis?", "carbon dioxide",
     ("oxygen", "nitrogen", "helium"), 0.5),
    ("Which planet is closest to the Sun?", "Mercury", ("Venus", "Mars", "Earth"), 0.3),
    ("How many sides does a hexagon have?", "6", ("5", "7", "8"), 0.2),
    ("At sea level, at what temperature in degrees Celsius does pure water boil?", "100", ("90", "110", "212"), 0.4),
    ("Which organ pumps blood through the human body?", "the heart", ("the liver", "the lungs", "the kidneys"), 0.2),
    ("What is the chemical symbol for sodium?", "Na", ("So", "S", "Sd"), 1.0),
    ("Which of these is a mammal?", "a dolphin", ("a shark", "a trout", "an octopus"), 0.8),
    ("What force keeps the planets in orbit around the Sun?", "gravity", ("magnetism", "friction", "static electricity"), 0.5),
    ("What is the largest planet in the Solar System?", "Jupiter", ("Saturn", "Neptune", "Earth"), 0.3),
    ("Which state of matter has a fixed volume but no fixed shape?", "liquid", ("solid", "gas", "plasma"), 1.0),
    ("What unit is used to measure electric current?", "ampere", ("volt", "ohm", "watt"), 0.8),
    ("Which part of a plant absorbs most of the water?", "the roots", ("the leaves", "the flowers", "the stem"), 0.5),
    ("How many bones are in the adult human body (approximately)?", "206", ("106", "306", "186"), 1.5),
    ("Which simple machine is a ramp?", "an inclined plane", ("a lever", "a pulley", "a wheel and axle"), 1.2),
    ("What do bees collect from flowers to make honey?", "nectar", ("pollen", "sap", "dew"), 0.8),
    ("Which layer of the Earth lies directly beneath the crust?", "the mantle",
     ("the outer core", "the inner core", "the lithosphere"), 1.6),
    ("What is the main gas in the Earth's atmosphere?", "nitrogen", ("oxygen", "carbon dioxide", "argon"), 1.4),
    ("Which process turns liquid water into water vapour?", "evaporation", ("condensation", "precipitation", "freezing"), 0.6),
    ("Which of these materials conducts electricity best?", "copper", ("rubber", "glass", "wood"), 0.4),
    ("What is the freezing point of water in degrees Fahrenheit?", "32", ("0", "-32", "100"), 0.9),
    ("Which blood cells help fight infections?", "white blood cells", ("red blood cells", "platelets", "plasma cells only"), 1.1),
    ("What type of energy does a stretched rubber band store?", "elastic potential energy",
     ("kinetic energy", "thermal energy", "chemical energy"), 1.3),
    ("Which of these is a renewable energy source?", "wind", ("coal", "natural gas", "diesel"), 0.3),
    ("What does a thermometer measure?", "temperature", ("pressure", "humidity", "mass"), 0.1),
    ("Which planet is known for its prominent ring system?", "Saturn", ("Mars", "Mercury", "Venus"), 0.3),
    ("What is the process by which cells divide to make two identical cells?", "mitosis", ("meiosis", "osmosis", "fusion"), 1.4),
)


@dataclass
class QuizItem:
    text: str
    answer: str           # the correct letter
    near_miss: str        # the letter of the most tempting wrong option
    difficulty: float
    work: str = ""        # a short worked solution models sometimes write


def _options(correct: str, distractors: list[str], rng: random.Random) -> tuple[list[str], str, str]:
    opts = [correct, *distractors]
    order = list(range(4))
    rng.shuffle(order)
    shuffled = [opts[i] for i in order]
    letters = "ABCD"
    return shuffled, letters[order.index(0)], letters[order.index(1)]


def make_quiz(rng: random.Random) -> QuizItem:
    kind = rng.choices(("fact", "speed", "percent", "sequence", "area", "units", "average"),
                       weights=(40, 12, 12, 12, 8, 8, 8))[0]
    if kind == "fact":
        q, correct, distractors, diff = rng.choice(FACTS)
        work = ""
        dlist = list(distractors)
    elif kind == "speed":
        v, t = rng.choice((30, 40, 45, 60, 72, 80, 90)), rng.choice((2, 3, 4, 5))
        q = f"A train travels {v * t} km in {t} hours at a constant speed. What is its speed in km/h?"
        correct, dlist, diff, work = str(v), [str(v * t * t), str(v + t), str(v * t)], 0.8, f"{v * t} / {t} = {v}"
    elif kind == "percent":
        p, base = rng.choice((10, 15, 20, 25, 30, 40)), rng.choice((40, 60, 80, 120, 150, 200, 250))
        q = f"A jacket costs ${base}. It is discounted by {p}%. What is the sale price?"
        sale = base * (100 - p) / 100
        correct = f"${sale:g}"
        dlist, diff = [f"${x:g}" for x in (base * p / 100, base - p, base * (100 + p) / 100)], 1.6
        work = f"{base} - {p}% of {base} = {sale:g}"
    elif kind == "sequence":
        a, r = rng.randint(1, 6), rng.choice((2, 3))
        seq = [a * r ** i for i in range(5)]
        q = f"What is the next number in the sequence {', '.join(map(str, seq[:4]))}, ...?"
        correct = str(seq[4])
        dlist = [str(seq[3] + (seq[3] - seq[2])), str(seq[4] + r), str(seq[3] * r - 1)]
        diff, work = 1.2, f"each term is multiplied by {r}"
    elif kind == "area":
        w, h = rng.randint(3, 15), rng.randint(3, 15)
        q = f"A rectangle is {w} cm wide and {h} cm long. What is its area?"
        correct = f"{w * h} cm²"
        dlist, diff, work = [f"{2 * (w + h)} cm²", f"{w + h} cm²", f"{w * h * 2} cm²"], 0.9, f"{w} x {h} = {w * h}"
    elif kind == "units":
        km = rng.choice((1.5, 2, 2.5, 3.2, 4, 7.5))
        q = f"How many metres are there in {km:g} kilometres?"
        correct = f"{km * 1000:g}"
        dlist, diff, work = [f"{km * 100:g}", f"{km * 10000:g}", f"{km * 10:g}"], 0.7, f"{km:g} x 1000"
    else:
        xs = [rng.randint(2, 20) for _ in range(rng.choice((3, 4, 5)))]
        while sum(xs) % len(xs):
            xs[-1] += 1
        q = f"What is the average (mean) of {', '.join(map(str, xs))}?"
        mean = sum(xs) // len(xs)
        correct = str(mean)
        dlist = [str(sorted(xs)[len(xs) // 2]) if sorted(xs)[len(xs) // 2] != mean else str(mean + 2),
                 str(sum(xs)), str(mean + 1)]
        diff, work = 1.4, f"{sum(xs)} / {len(xs)} = {mean}"
    # Keep the options distinct.
    seen, clean = {correct}, []
    for d in dlist:
        while d in seen:
            d = d + "0" if d[-1].isdigit() else d + "s"
        seen.add(d)
        clean.append(d)
    opts, answer, near = _options(correct, clean, rng)
    text = q + "\n" + "\n".join(f"{letter}. {o}" for letter, o in zip("ABCD", opts, strict=True))
    return QuizItem(text, answer, near, diff, work)


def render_choice(letter: str, option_text: str, work: str, rng: random.Random) -> str:
    return rng.choice((
        letter, letter, f"The answer is {letter}.", f"Answer: ({letter})", f"{letter}. {option_text}",
        f"{letter}) {option_text}", f"The correct option is {letter.lower()}",
        (f"{work}, so the answer is {letter}." if work else f"Answer: {letter}"),
        f"**{letter}**",
    ))


_ANSWER_IS = re.compile(r"answer(?: is)?\s*[:\s]\s*\(?([A-Da-d])\b", re.IGNORECASE)
_LEADING = re.compile(r"^\W*([A-D])\b")
_OPTION_IS = re.compile(r"option is ([a-dA-D])\b")


def parse_choice(raw: str) -> str:
    """The recorded post-processing: "answer is X" / "Answer: (X)" / "option is x", else a leading letter,
    else the last standalone capital A-D; "" when nothing is found."""
    for pat in (_ANSWER_IS, _OPTION_IS, _LEADING):
        m = pat.search(raw.strip())
        if m:
            return m.group(1).upper()
    found = re.findall(r"\b([A-D])\b", raw)
    return found[-1] if found else ""
