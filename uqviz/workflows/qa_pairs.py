"""Extra NLI training pairs: two answers to one short factual question, for the NLI judge of docs/methods.md §0.2."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NEUTRAL

LABELS = (ENTAILMENT, NEUTRAL, CONTRADICTION)
KINDS = ("short-vs-sentence", "paraphrase", "slot-swap", "hedge", "unknown")

CAPITALS: dict[str, str] = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Portugal": "Lisbon",
    "the United Kingdom": "London", "Ireland": "Dublin", "Belgium": "Brussels", "Austria": "Vienna",
    "Switzerland": "Bern", "Poland": "Warsaw", "the Czech Republic": "Prague", "Hungary": "Budapest",
    "Greece": "Athens", "Sweden": "Stockholm", "Norway": "Oslo", "Denmark": "Copenhagen", "Finland": "Helsinki",
    "Iceland": "Reykjavik", "Russia": "Moscow", "Ukraine": "Kyiv", "Romania": "Bucharest", "Bulgaria": "Sofia",
    "Serbia": "Belgrade", "Croatia": "Zagreb", "Slovakia": "Bratislava", "Slovenia": "Ljubljana",
    "Estonia": "Tallinn", "Latvia": "Riga", "Lithuania": "Vilnius", "Turkey": "Ankara", "Egypt": "Cairo",
    "Morocco": "Rabat", "Kenya": "Nairobi", "Nigeria": "Abuja", "Ethiopia": "Addis Ababa", "Ghana": "Accra",
    "Senegal": "Dakar", "Japan": "Tokyo", "China": "Beijing", "South Korea": "Seoul", "India": "New Delhi",
    "Pakistan": "Islamabad", "Bangladesh": "Dhaka", "Thailand": "Bangkok", "Vietnam": "Hanoi",
    "the Philippines": "Manila", "Nepal": "Kathmandu", "Mongolia": "Ulaanbaatar", "Cambodia": "Phnom Penh",
    "Iran": "Tehran", "Iraq": "Baghdad", "Saudi Arabia": "Riyadh", "Syria": "Damascus", "Lebanon": "Beirut",
    "Jordan": "Amman", "Australia": "Canberra", "New Zealand": "Wellington", "Canada": "Ottawa",
    "Brazil": "Brasília", "Argentina": "Buenos Aires", "Chile": "Santiago", "Peru": "Lima", "Colombia": "Bogotá",
    "Venezuela": "Caracas", "Cuba": "Havana", "Ecuador": "Quito", "Uruguay": "Montevideo",
}
CAPITAL_CONFUSIONS: dict[str, str] = {
    "Australia": "Sydney", "Canada": "Toronto", "Turkey": "Istanbul", "Brazil": "Rio de Janeiro",
    "Switzerland": "Zurich", "New Zealand": "Auckland", "Nigeria": "Lagos", "Morocco": "Casablanca",
    "Pakistan": "Karachi", "Vietnam": "Ho Chi Minh City", "India": "Mumbai", "China": "Shanghai",
    "Ecuador": "Guayaquil", "Spain": "Barcelona", "Italy": "Milan", "Russia": "Saint Petersburg",
}
BOOKS: dict[str, str] = {
    "Pride and Prejudice": "Jane Austen", "1984": "George Orwell", "Animal Farm": "George Orwell",
    "To Kill a Mockingbird": "Harper Lee", "The Great Gatsby": "F. Scott Fitzgerald", "Moby-Dick": "Herman Melville",
    "War and Peace": "Leo Tolstoy", "Anna Karenina": "Leo Tolstoy", "Crime and Punishment": "Fyodor Dostoevsky",
    "The Brothers Karamazov": "Fyodor Dostoevsky", "Don Quixote": "Miguel de Cervantes",
    "Jane Eyre": "Charlotte Brontë", "Wuthering Heights": "Emily Brontë", "Frankenstein": "Mary Shelley",
    "Dracula": "Bram Stoker", "Great Expectations": "Charles Dickens", "A Tale of Two Cities": "Charles Dickens",
    "Oliver Twist": "Charles Dickens", "The Adventures of Tom Sawyer": "Mark Twain",
    "Adventures of Huckleberry Finn": "Mark Twain", "Brave New World": "Aldous Huxley",
    "Fahrenheit 451": "Ray Bradbury", "The Catcher in the Rye": "J. D. Salinger", "Of Mice and Men": "John Steinbeck",
    "The Grapes of Wrath": "John Steinbeck", "The Old Man and the Sea": "Ernest Hemingway",
    "One Hundred Years of Solitude": "Gabriel García Márquez", "The Lord of the Rings": "J. R. R. Tolkien",
    "The Hobbit": "J. R. R. Tolkien", "Ulysses": "James Joyce", "Lolita": "Vladimir Nabokov",
    "Madame Bovary": "Gustave Flaubert", "Les Misérables": "Victor Hugo",
    "The Count of Monte Cristo": "Alexandre Dumas", "The Picture of Dorian Gray": "Oscar Wilde",
    "Catch-22": "Joseph Heller", "Slaughterhouse-Five": "Kurt Vonnegut", "Beloved": "Toni Morrison",
    "The Handmaid's Tale": "Margaret Atwood", "Lord of the Flies": "William Golding", "Mrs Dalloway": "Virginia Woolf",
    "The Trial": "Franz Kafka", "The Metamorphosis": "Franz Kafka", "Heart of Darkness": "Joseph Conrad",
    "The Divine Comedy": "Dante Alighieri", "Robinson Crusoe": "Daniel Defoe", "Gulliver's Travels": "Jonathan Swift",
    "The Little Prince": "Antoine de Saint-Exupéry", "The Name of the Rose": "Umberto Eco",
    "Things Fall Apart": "Chinua Achebe", "Dune": "Frank Herbert", "Middlemarch": "George Eliot",
    "Treasure Island": "Robert Louis Stevenson", "Alice's Adventures in Wonderland": "Lewis Carroll",
    "The Stranger": "Albert Camus", "Harry Potter and the Philosopher's Stone": "J. K. Rowling",
}
EVENTS: dict[str, int] = {
    "the Battle of Hastings": 1066, "the sealing of the Magna Carta": 1215, "the Battle of Agincourt": 1415,
    "the fall of Constantinople": 1453, "Columbus's first voyage to the Americas": 1492,
    "Martin Luther's posting of the Ninety-five Theses": 1517, "the defeat of the Spanish Armada": 1588,
    "the Peace of Westphalia": 1648, "the Great Fire of London": 1666, "the Boston Tea Party": 1773,
    "the signing of the Declaration of Independence": 1776, "the storming of the Bastille": 1789,
    "the Louisiana Purchase": 1803, "the Battle of Trafalgar": 1805, "the Battle of Waterloo": 1815,
    "the publication of On the Origin of Species": 1859, "the start of the American Civil War": 1861,
    "the Battle of Gettysburg": 1863, "the assassination of Abraham Lincoln": 1865,
    "the death of Queen Victoria": 1901, "the Wright brothers' first powered flight": 1903,
    "the sinking of the Titanic": 1912, "the assassination of Archduke Franz Ferdinand": 1914,
    "the October Revolution in Russia": 1917, "the signing of the Treaty of Versailles": 1919,
    "the Wall Street Crash": 1929, "the attack on Pearl Harbor": 1941, "the end of the Battle of Stalingrad": 1943,
    "the D-Day landings in Normandy": 1944, "the atomic bombing of Hiroshima": 1945,
    "the founding of the United Nations": 1945, "India's independence from Britain": 1947,
    "the founding of the People's Republic of China": 1949, "the first ascent of Mount Everest": 1953,
    "Yuri Gagarin's first human spaceflight": 1961, "the Cuban Missile Crisis": 1962,
    "the assassination of John F. Kennedy": 1963, "the first crewed Moon landing": 1969,
    "the Chernobyl disaster": 1986, "the fall of the Berlin Wall": 1989, "Nelson Mandela's release from prison": 1990,
    "the reunification of Germany": 1990, "the dissolution of the Soviet Union": 1991,
    "the Fukushima nuclear disaster": 2011,
}
ELEMENTS: dict[str, str] = {
    "hydrogen": "H", "helium": "He", "lithium": "Li", "beryllium": "Be", "boron": "B", "carbon": "C",
    "nitrogen": "N", "oxygen": "O", "fluorine": "F", "neon": "Ne", "sodium": "Na", "magnesium": "Mg",
    "aluminium": "Al", "silicon": "Si", "phosphorus": "P", "sulfur": "S", "chlorine": "Cl", "argon": "Ar",
    "potassium": "K", "calcium": "Ca", "titanium": "Ti", "chromium": "Cr", "manganese": "Mn", "iron": "Fe",
    "cobalt": "Co", "nickel": "Ni", "copper": "Cu", "zinc": "Zn", "bromine": "Br", "krypton": "Kr",
    "strontium": "Sr", "silver": "Ag", "tin": "Sn", "iodine": "I", "xenon": "Xe", "barium": "Ba",
    "tungsten": "W", "platinum": "Pt", "gold": "Au", "mercury": "Hg", "lead": "Pb", "radon": "Rn",
    "uranium": "U", "plutonium": "Pu",
}
YEAR_RANGE = (1000, 2024)

GENERIC_SENTENCES = ("It's {v}.", "It is {v}.", "The answer is {v}.")
CAPITAL_QUESTIONS = (
    "What is the capital of {s}?", "Which city is the capital of {s}?", "What's the capital city of {s}?",
    "Name the capital of {s}.",
)
CAPITAL_SENTENCES = (
    "The capital of {s} is {v}.", "{v} is the capital of {s}.", "The capital city of {s} is {v}.",
    "{s} has {v} as its capital.", "Its capital is {v}.",
)
BOOK_QUESTIONS = ("Who wrote {s}?", "Who is the author of {s}?", "Which author wrote {s}?", "Who wrote the book {s}?")
BOOK_SENTENCES = (
    "{s} was written by {v}.", "{v} wrote {s}.", "The author of {s} is {v}.", "{v} is the author of {s}.",
    "It was written by {v}.", "The book was written by {v}.",
)
EVENT_QUESTIONS = (
    "In what year did {s} take place?", "When did {s} happen?", "What year was {s}?", "In which year did {s} occur?",
)
EVENT_SENTENCES = (
    "{s} took place in {v}.", "{s} happened in {v}.", "{s} was in {v}.", "It happened in {v}.",
    "It took place in {v}.", "That was in {v}.", "The year was {v}.", "In {v}.",
)
ELEMENT_QUESTIONS = (
    "What is the chemical symbol for {s}?", "What is the symbol of {s}?", "Which chemical symbol stands for {s}?",
    "What's the element symbol for {s}?",
)
ELEMENT_SENTENCES = (
    "The chemical symbol for {s} is {v}.", "{v} is the chemical symbol for {s}.", "{s}'s symbol is {v}.",
    "The symbol of {s} is {v}.", "{s} has the symbol {v}.", "On the periodic table, {s} is {v}.",
)
PRODUCT_QUESTIONS = (
    "What is {a} × {b}?", "What is {a} times {b}?", "What is {a} multiplied by {b}?",
    "What is the product of {a} and {b}?", "How much is {a} times {b}?",
)
PRODUCT_SENTENCES = (
    "{a} times {b} is {v}.", "{a} × {b} = {v}", "The product of {a} and {b} is {v}.",
    "{a} multiplied by {b} equals {v}.", "That comes to {v}.",
)
SUM_QUESTIONS = (
    "What is {a} + {b}?", "What is {a} plus {b}?", "What is the sum of {a} and {b}?", "How much is {a} plus {b}?",
    "What do you get when you add {a} and {b}?",
)
SUM_SENTENCES = (
    "{a} plus {b} is {v}.", "{a} + {b} = {v}", "The sum of {a} and {b} is {v}.", "{a} and {b} add up to {v}.",
    "That comes to {v}.",
)
HEDGES = (
    "I think it might be {v}, but I'm not sure.", "Maybe {v}?", "Possibly {v}, though I can't say for certain.",
    "It could be {v}, but I'm not certain.", "My best guess is {v}.", "I'm not sure, perhaps {v}.",
    "I believe it's {v}, but don't quote me on that.", "Perhaps {v}, if I remember correctly.",
    "{v}? I'm not completely sure.", "Probably {v}, but I might be wrong.",
)
NON_ANSWERS = (
    "I don't know.", "I'm not sure.", "I have no idea.", "Sorry, I don't know the answer.", "I can't answer that.",
    "I don't remember.", "No idea.", "I'm afraid I don't know.", "I'm unable to answer that question.", "Unknown.",
)


@dataclass(frozen=True)
class QaPair:
    """Two answers to one question; `label` is the NLI label of premise -> hypothesis, `kind` the template family.

    The NLI model reads `question + " " + premise` and `question + " " + hypothesis`.
    """

    question: str
    premise: str
    hypothesis: str
    label: str
    kind: str


@dataclass(frozen=True)
class _Fact:
    """One phrased question, its answer, a wrong answer of the same type and sentence templates with a `{v}` slot."""

    question: str
    answer: str
    wrong: str
    sentences: tuple[str, ...]
    casefree: bool = True


def _fill(templates: Sequence[str], **slots: object) -> tuple[str, ...]:
    """The templates with every slot but `{v}` filled in."""
    return tuple(template.format(v="{v}", **slots) for template in templates)


def _other(rng: random.Random, options: Sequence[str], value: str) -> str:
    """A random option other than the value."""
    return rng.choice([option for option in options if option != value])


def _swap_digits(rng: random.Random, value: int) -> int:
    """The value with two adjacent different digits swapped (no leading zero); the value itself if none can be."""
    digits = str(value)
    places = [i for i in range(len(digits) - 1) if digits[i] != digits[i + 1] and not (i == 0 and digits[1] == "0")]
    if not places:
        return value
    i = rng.choice(places)
    return int(digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :])


def _near_miss(rng: random.Random, value: int, low: int, high: int) -> int:
    """A wrong positive number: ±1, ±10, two digits swapped, or a random one in [low, high]."""
    while True:
        way = rng.randrange(4)
        if way == 0:
            guess = value + rng.choice((-1, 1))
        elif way == 1:
            guess = value + rng.choice((-10, 10))
        elif way == 2:
            guess = _swap_digits(rng, value)
        else:
            guess = rng.randint(low, high)
        if guess != value and guess > 0:
            return guess


def _capital_fact(rng: random.Random) -> _Fact:
    country = rng.choice(_COUNTRIES)
    capital = CAPITALS[country]
    if country in CAPITAL_CONFUSIONS and rng.random() < 0.4:
        wrong = CAPITAL_CONFUSIONS[country]
    else:
        wrong = _other(rng, _CAPITAL_NAMES, capital)
    question = rng.choice(CAPITAL_QUESTIONS).format(s=country)
    return _Fact(question, capital, wrong, _fill(CAPITAL_SENTENCES + GENERIC_SENTENCES, s=country))


def _book_fact(rng: random.Random) -> _Fact:
    title = rng.choice(_TITLES)
    author = BOOKS[title]
    question = rng.choice(BOOK_QUESTIONS).format(s=title)
    return _Fact(question, author, _other(rng, _AUTHORS, author), _fill(BOOK_SENTENCES + GENERIC_SENTENCES, s=title))


def _event_fact(rng: random.Random) -> _Fact:
    event = rng.choice(_EVENT_NAMES)
    year = EVENTS[event]
    wrong = _near_miss(rng, year, *YEAR_RANGE)
    question = rng.choice(EVENT_QUESTIONS).format(s=event)
    return _Fact(question, str(year), str(wrong), _fill(EVENT_SENTENCES + GENERIC_SENTENCES, s=event))


def _element_fact(rng: random.Random) -> _Fact:
    element = rng.choice(_ELEMENT_NAMES)
    symbol = ELEMENTS[element]
    lookalikes = [other for other in _SYMBOLS if other != symbol and other[0] == symbol[0]]
    wrong = rng.choice(lookalikes) if lookalikes and rng.random() < 0.5 else _other(rng, _SYMBOLS, symbol)
    question = rng.choice(ELEMENT_QUESTIONS).format(s=element)
    sentences = _fill(ELEMENT_SENTENCES + GENERIC_SENTENCES, s=element)
    return _Fact(question, symbol, wrong, sentences, casefree=False)


def _operand(rng: random.Random) -> int:
    """A random two- or three-digit number."""
    return rng.randint(10, 99) if rng.random() < 0.5 else rng.randint(100, 999)


def _arithmetic_fact(rng: random.Random) -> _Fact:
    a, b = _operand(rng), _operand(rng)
    if rng.random() < 0.5:
        value, questions, sentences = a * b, PRODUCT_QUESTIONS, PRODUCT_SENTENCES
    else:
        value, questions, sentences = a + b, SUM_QUESTIONS, SUM_SENTENCES
    wrong = _near_miss(rng, value, max(1, value // 2), value * 2)
    question = rng.choice(questions).format(a=a, b=b)
    return _Fact(question, str(value), str(wrong), _fill(sentences + GENERIC_SENTENCES, a=a, b=b))


_COUNTRIES = tuple(CAPITALS)
_CAPITAL_NAMES = tuple(CAPITALS.values())
_TITLES = tuple(BOOKS)
_AUTHORS = tuple(sorted(set(BOOKS.values())))
_EVENT_NAMES = tuple(EVENTS)
_ELEMENT_NAMES = tuple(ELEMENTS)
_SYMBOLS = tuple(ELEMENTS.values())
_DOMAINS: tuple[Callable[[random.Random], _Fact], ...] = (
    _capital_fact, _book_fact, _event_fact, _element_fact, _arithmetic_fact,
)


def _short(rng: random.Random, fact: _Fact, value: str) -> str:
    """The bare value, now and then lower-cased or with a full stop."""
    text = value.lower() if fact.casefree and rng.random() < 0.15 else value
    return text + "." if rng.random() < 0.3 and not text.endswith(".") else text


def _sentence(rng: random.Random, fact: _Fact, template: str, value: str) -> str:
    """The template stating the value, capitalised, now and then all lower case or without its full stop."""
    text = template.replace("{v}", value)
    text = text[:1].upper() + text[1:]
    if fact.casefree and rng.random() < 0.1:
        text = text.lower()
    return text.removesuffix(".") if rng.random() < 0.2 else text


def _definite(rng: random.Random, fact: _Fact, value: str) -> str:
    """The value as a short answer or in a sentence."""
    if rng.random() < 0.5:
        return _short(rng, fact, value)
    return _sentence(rng, fact, rng.choice(fact.sentences), value)


def _hedge(rng: random.Random, value: str) -> str:
    text = rng.choice(HEDGES).replace("{v}", value)
    return text[:1].upper() + text[1:]


def _short_vs_sentence(rng: random.Random, fact: _Fact) -> tuple[str, str]:
    return _short(rng, fact, fact.answer), _sentence(rng, fact, rng.choice(fact.sentences), fact.answer)


def _paraphrase(rng: random.Random, fact: _Fact) -> tuple[str, str]:
    first, second = rng.sample(fact.sentences, 2)
    return _sentence(rng, fact, first, fact.answer), _sentence(rng, fact, second, fact.answer)


def _slot_swap(rng: random.Random, fact: _Fact) -> tuple[str, str]:
    """The right and a wrong value: short vs short, short vs sentence, or sentence vs (often the same) sentence."""
    form = rng.randrange(3)
    if form == 0:
        return _short(rng, fact, fact.answer), _short(rng, fact, fact.wrong)
    if form == 1:
        short, long = rng.sample((fact.answer, fact.wrong), 2)
        return _short(rng, fact, short), _sentence(rng, fact, rng.choice(fact.sentences), long)
    template = rng.choice(fact.sentences)
    other = template if rng.random() < 0.5 else rng.choice(fact.sentences)
    return _sentence(rng, fact, template, fact.answer), _sentence(rng, fact, other, fact.wrong)


def _hedged(rng: random.Random, fact: _Fact) -> tuple[str, str]:
    return _hedge(rng, fact.answer), _definite(rng, fact, fact.answer)


def _unknown(rng: random.Random, fact: _Fact) -> tuple[str, str]:
    """A non-answer vs a right or wrong answer, definite or hedged."""
    value = fact.answer if rng.random() < 0.7 else fact.wrong
    answer = _hedge(rng, value) if rng.random() < 0.25 else _definite(rng, fact, value)
    non_answer = rng.choice(NON_ANSWERS)
    return non_answer.removesuffix(".") if rng.random() < 0.2 else non_answer, answer


_Builder = Callable[[random.Random, _Fact], tuple[str, str]]
_FAMILIES: dict[str, tuple[tuple[str, float, _Builder], ...]] = {
    ENTAILMENT: (("short-vs-sentence", 0.65, _short_vs_sentence), ("paraphrase", 0.35, _paraphrase)),
    NEUTRAL: (("hedge", 0.6, _hedged), ("unknown", 0.4, _unknown)),
    CONTRADICTION: (("slot-swap", 1.0, _slot_swap),),
}


def generate_pairs(count: int, seed: int = 0) -> list[QaPair]:
    """`count` pairs, deterministic for a seed (random.Random(seed)), a third of each label up to rounding."""
    if count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    rng = random.Random(seed)
    labels = [LABELS[i % len(LABELS)] for i in range(count)]
    rng.shuffle(labels)
    pairs = []
    for label in labels:
        fact = rng.choice(_DOMAINS)(rng)
        families = _FAMILIES[label]
        kind, _, build = rng.choices(families, weights=[weight for _, weight, _ in families])[0]
        first, second = build(rng, fact)
        if rng.random() < 0.5:
            first, second = second, first
        pairs.append(QaPair(fact.question, first, second, label, kind))
    return pairs
