"""Extra NLI training pairs: two answers to one short factual question, for the NLI judge of docs/methods.md §0.2."""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from uqviz.models.nli import CONTRADICTION, ENTAILMENT, NEUTRAL

LABELS = (ENTAILMENT, NEUTRAL, CONTRADICTION)
KINDS = ("short-vs-sentence", "paraphrase", "equivalent", "slot-swap", "hedge", "unknown", "partial")

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

# Facts for the equivalence families. No question of uqviz/data/nli_eval_pairs.csv is generated and no subject here is
# asked about there with the same relation (a test checks both), so the hand-written pairs test skills, not memorised
# facts; answers ("Portuguese") and sentence templates do recur.
PEOPLE: dict[str, tuple[str, str, str]] = {  # work: (verb, full name, the name people use alone)
    "the New World Symphony": ("composed", "Antonín Dvořák", "Dvořák"), "Peer Gynt": ("composed", "Edvard Grieg", "Grieg"),
    "Finlandia": ("composed", "Jean Sibelius", "Sibelius"), "The Planets": ("composed", "Gustav Holst", "Holst"),
    "Boléro": ("composed", "Maurice Ravel", "Ravel"), "Clair de Lune": ("composed", "Claude Debussy", "Debussy"),
    "The Rite of Spring": ("composed", "Igor Stravinsky", "Stravinsky"), "Carmen": ("composed", "Georges Bizet", "Bizet"),
    "Aida": ("composed", "Giuseppe Verdi", "Verdi"), "Rhapsody in Blue": ("composed", "George Gershwin", "Gershwin"),
    "The Carnival of the Animals": ("composed", "Camille Saint-Saëns", "Saint-Saëns"),
    "Canon in D": ("composed", "Johann Pachelbel", "Pachelbel"),
    "Pictures at an Exhibition": ("composed", "Modest Mussorgsky", "Mussorgsky"),
    "the Minute Waltz": ("composed", "Frédéric Chopin", "Chopin"), "the Trout Quintet": ("composed", "Franz Schubert", "Schubert"),
    "The Barber of Seville": ("composed", "Gioachino Rossini", "Rossini"), "La Bohème": ("composed", "Giacomo Puccini", "Puccini"),
    "Peter and the Wolf": ("composed", "Sergei Prokofiev", "Prokofiev"), "Appalachian Spring": ("composed", "Aaron Copland", "Copland"),
    "Carmina Burana": ("composed", "Carl Orff", "Orff"), "the Symphonie fantastique": ("composed", "Hector Berlioz", "Berlioz"),
    "Impression, Sunrise": ("painted", "Claude Monet", "Monet"), "The Kiss": ("painted", "Gustav Klimt", "Klimt"),
    "American Gothic": ("painted", "Grant Wood", "Wood"), "Nighthawks": ("painted", "Edward Hopper", "Hopper"),
    "Liberty Leading the People": ("painted", "Eugène Delacroix", "Delacroix"), "The Hay Wain": ("painted", "John Constable", "Constable"),
    "The Great Wave off Kanagawa": ("made", "Katsushika Hokusai", "Hokusai"), "Las Meninas": ("painted", "Diego Velázquez", "Velázquez"),
    "the Arnolfini Portrait": ("painted", "Jan van Eyck", "van Eyck"), "Olympia": ("painted", "Édouard Manet", "Manet"),
    "The Dance": ("painted", "Henri Matisse", "Matisse"), "The Two Fridas": ("painted", "Frida Kahlo", "Kahlo"),
    "Wanderer above the Sea of Fog": ("painted", "Caspar David Friedrich", "Friedrich"),
    "The Fighting Temeraire": ("painted", "J. M. W. Turner", "Turner"),
    "penicillin": ("discovered", "Alexander Fleming", "Fleming"), "the theory of relativity": ("developed", "Albert Einstein", "Einstein"),
    "the law of universal gravitation": ("formulated", "Isaac Newton", "Newton"), "polonium": ("discovered", "Marie Curie", "Curie"),
    "the periodic table": ("devised", "Dmitri Mendeleev", "Mendeleev"), "the polio vaccine": ("developed", "Jonas Salk", "Salk"),
    "the smallpox vaccine": ("developed", "Edward Jenner", "Jenner"), "pasteurisation": ("invented", "Louis Pasteur", "Pasteur"),
    "the heliocentric model": ("proposed", "Nicolaus Copernicus", "Copernicus"),
    "the laws of planetary motion": ("formulated", "Johannes Kepler", "Kepler"),
    "the uncertainty principle": ("formulated", "Werner Heisenberg", "Heisenberg"),
    "the moons of Jupiter": ("discovered", "Galileo Galilei", "Galileo"), "the laws of inheritance": ("discovered", "Gregor Mendel", "Mendel"),
    "the atomic nucleus": ("discovered", "Ernest Rutherford", "Rutherford"), "X-rays": ("discovered", "Wilhelm Röntgen", "Röntgen"),
    "Morse code": ("invented", "Samuel Morse", "Morse"), "the induction motor": ("invented", "Nikola Tesla", "Tesla"),
    "the expansion of the universe": ("discovered", "Edwin Hubble", "Hubble"), "antiseptic surgery": ("pioneered", "Joseph Lister", "Lister"),
}
PERSON_ROLES = {"composed": "the composer", "painted": "the painter", "made": "the artist"}
PERSON_QUESTIONS = ("Who {verb} {s}?", "Who {verb} {s}, do you know?", "Which person {verb} {s}?")
PERSON_SENTENCES = (
    "{s} was {verb} by {v}.", "{v} {verb} {s}.", "It was {verb} by {v}.", "That was {v}.", "{v} is the one who {verb} it.",
    "{v} {verb} it.", "The person who {verb} {s} was {v}.",
)

COUNTS: dict[str, tuple[int, str]] = {  # question: (count, noun)
    "How many sides does a hexagon have?": (6, "sides"), "How many sides does an octagon have?": (8, "sides"),
    "How many sides does a pentagon have?": (5, "sides"), "How many days are there in a week?": (7, "days"),
    "How many continents are there?": (7, "continents"), "How many planets are in the Solar System?": (8, "planets"),
    "How many strings does a standard guitar have?": (6, "strings"), "How many hours are in a day?": (24, "hours"),
    "How many minutes are in an hour?": (60, "minutes"), "How many colours does a rainbow have?": (7, "colours"),
    "How many squares are on a chessboard?": (64, "squares"), "How many wheels does a tricycle have?": (3, "wheels"),
    "How many cards are in a standard deck?": (52, "cards"), "How many signs are in the zodiac?": (12, "signs"),
    "How many months are in a year?": (12, "months"), "How many years are in a century?": (100, "years"),
    "How many faces does a cube have?": (6, "faces"), "How many edges does a cube have?": (12, "edges"),
    "How many states make up the United States?": (50, "states"), "How many innings are in a baseball game?": (9, "innings"),
    "How many pawns does each chess player start with?": (8, "pawns"), "How many holes does a standard golf course have?": (18, "holes"),
    "How many arms does a starfish usually have?": (5, "arms"), "How many legs does a crab have?": (10, "legs"),
    "How many years are in a decade?": (10, "years"), "How many notes are in a major scale?": (7, "notes"),
    "How many letters are in the English alphabet?": (26, "letters"), "How many events are in a decathlon?": (10, "events"),
    "How many rings are on the Olympic flag?": (5, "rings"), "How many weeks are in a year?": (52, "weeks"),
    "How many seconds are in a minute?": (60, "seconds"), "How many ounces are in a pound?": (16, "ounces"),
    "How many players does a volleyball team have on court?": (6, "players"), "How many sides does a triangle have?": (3, "sides"),
}
COUNTED_THINGS = (
    ("apples", "the basket"), ("books", "the box"), ("chairs", "the room"), ("coins", "the jar"), ("eggs", "the fridge"),
    ("pencils", "the drawer"), ("sheep", "the field"), ("boats", "the harbour"), ("trees", "the garden"), ("cars", "the car park"),
)
NUMBER_IDIOMS = {2: ("a pair",), 6: ("half a dozen",), 12: ("a dozen",), 20: ("a score",), 24: ("two dozen",), 100: ("a hundred",)}
COUNT_SENTENCES = ("There are {v}.", "It has {v}.", "The answer is {v}.", "{v}, to be exact.", "That would be {v}.")

# a quantity: questions, things, and units as (forms, how many of the unit make one base unit)
QUANTITIES: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[tuple[str, ...], float], ...], tuple[float, float]], ...] = (
    (("How long is {s}?", "What is the length of {s}?"),
     ("the bridge", "the tunnel", "the trail", "the canal", "the pier", "the runway", "the pipeline", "the railway line", "the race"),
     ((("{n} m", "{n} metres", "{n} meters"), 1.0), (("{n} feet", "{n} ft"), 3.28084), (("{n} km", "{n} kilometres", "{n} kilometers"), 0.001),
      (("{n} miles",), 0.000621371)), (20.0, 400_000.0)),
    (("How tall is {s}?", "How high is {s}?", "What is the height of {s}?"),
     ("the tower", "the dam", "the statue", "the lighthouse", "the cliff", "the skyscraper", "the hill", "the volcano", "the monument"),
     ((("{n} m", "{n} metres", "{n} meters"), 1.0), (("{n} feet", "{n} ft"), 3.28084), (("{n} km", "{n} kilometres"), 0.001),
      (("{n} cm", "{n} centimetres"), 100.0)), (5.0, 6_000.0)),
    (("How much does {s} weigh?", "What is the weight of {s}?", "How heavy is {s}?"),
     ("the bell", "the anchor", "the meteorite", "the engine", "the boulder", "the cheese wheel", "the suitcase", "the tortoise"),
     ((("{n} kg", "{n} kilograms", "{n} kilos"), 1.0), (("{n} pounds", "{n} lb"), 2.20462), (("{n} g", "{n} grams"), 1000.0),
      (("{n} tonnes", "{n} metric tons"), 0.001)), (0.5, 20_000.0)),
    (("How long does {s} take?", "How long is {s}?", "What is the duration of {s}?"),
     ("the ferry crossing", "the flight", "the train ride", "the concert", "the film", "the lecture", "the hike", "the ceremony"),
     ((("{n} minutes", "{n} min"), 1.0), (("{n} hours", "{n} h"), 1 / 60), (("{n} seconds", "{n} s"), 60.0)), (10.0, 600.0)),
    (("How fast does {s} go?", "What is the top speed of {s}?", "How fast can {s} travel?"),
     ("the train", "the car", "the ferry", "the motorbike", "the plane", "the speedboat"),
     ((("{n} km/h", "{n} kilometres per hour", "{n} kph"), 1.0), (("{n} mph", "{n} miles per hour"), 0.621371),
      (("{n} m/s", "{n} metres per second"), 1 / 3.6)), (10.0, 900.0)),
)
TEMPERATURE_THINGS = ("the kiln", "the sauna", "the furnace", "the hot spring", "the oven", "the freezer", "the lake in winter", "the engine")
TEMPERATURE_QUESTIONS = ("What temperature does {s} reach?", "How hot is {s}?", "What is the temperature of {s}?")
TEMPERATURE_UNITS = (("{n} °C", "{n} degrees Celsius", "{n} degrees C"), ("{n} °F", "{n} degrees Fahrenheit", "{n} degrees F"),
                     ("{n} K", "{n} kelvin"))
MINUTE_PHRASES = {30: ("half an hour",), 45: ("three quarters of an hour",), 60: ("an hour", "one hour"),
                  90: ("an hour and a half", "one and a half hours"), 120: ("two hours",), 150: ("two and a half hours",),
                  180: ("three hours",)}
APPROXIMATELY = ("about", "roughly", "around", "approximately", "some", "close to")
QUANTITY_SENTENCES = ("It's {v}.", "That's {v}.", "{s} is {v}.", "The figure is {v}.", "It comes to {v}.", "{s}: {v}.")

ALIASES: dict[str, tuple[str, ...]] = {  # question: names of one thing
    "What is the most populous city in India?": ("Mumbai", "Bombay"),
    "Which country has Yangon as its largest city?": ("Myanmar", "Burma"),
    "Which country has Bangkok as its capital?": ("Thailand", "Siam"),
    "Which country has Tehran as its capital?": ("Iran", "Persia"),
    "Which island country lies off the southern tip of India?": ("Sri Lanka", "Ceylon"),
    "What is the largest city in Vietnam?": ("Ho Chi Minh City", "Saigon"),
    "Which Russian city is home to the Hermitage Museum?": ("Saint Petersburg", "St Petersburg", "Leningrad"),
    "What is the famous sandstone monolith in central Australia called?": ("Uluru", "Ayers Rock"),
    "Which country is known for its windmills, tulips and canals?": ("the Netherlands", "Holland"),
    "Which country launched Sputnik 1?": ("the Soviet Union", "the USSR"),
    "Which Indian city is home to the Victoria Memorial?": ("Kolkata", "Calcutta"),
    "Which city is the capital of the Indian state of Tamil Nadu?": ("Chennai", "Madras"),
    "Which city is home to the Forbidden City?": ("Beijing", "Peking"),
    "Which country was George Washington the first president of?": ("the United States", "the USA", "the US", "America"),
    "Which organisation was founded in 1945 to keep world peace?": ("the United Nations", "the UN"),
    "Which political union has its parliament in Strasbourg?": ("the European Union", "the EU"),
    "Which agency ran the Apollo programme?": ("NASA", "the National Aeronautics and Space Administration"),
    "Which agency of the UN coordinates international public health?": ("the World Health Organization", "the WHO"),
    "What is the chemical name for table salt?": ("sodium chloride", "NaCl"),
    "Which compound is made of two hydrogen atoms and one oxygen atom?": ("water", "H2O"),
    "Which country has Harare as its capital?": ("Zimbabwe", "Rhodesia"),
    "Which city straddles the Bosphorus?": ("Istanbul", "Constantinople"),
    "Which island was called Formosa by Portuguese sailors?": ("Taiwan", "Formosa"),
    "Which landlocked kingdom lies between South Africa and Mozambique?": ("Eswatini", "Swaziland"),
}
ALIAS_SENTENCES = ("It's {v}.", "That would be {v}.", "The answer is {v}.", "It is {v}.", "{v}, I believe it's called.")

SUPERLATIVES: dict[str, tuple[str, str, tuple[str, ...]]] = {  # "adjective category": (synonym adjective, answer, wrong answers)
    "smallest planet in the Solar System": ("tiniest", "Mercury", ("Mars", "Venus", "Pluto")),
    "largest country by area": ("biggest", "Russia", ("Canada", "China", "the United States")),
    "smallest country in the world": ("tiniest", "Vatican City", ("Monaco", "San Marino", "Liechtenstein")),
    "largest continent": ("biggest", "Asia", ("Africa", "North America")),
    "coldest continent": ("chilliest", "Antarctica", ("Asia", "North America", "Europe")),
    "tallest animal": ("tallest", "the giraffe", ("the elephant", "the camel")),
    "largest big cat": ("biggest", "the tiger", ("the lion", "the jaguar", "the leopard")),
    "largest moon in the Solar System": ("biggest", "Ganymede", ("Callisto", "Europa")),
        "largest city in Canada": ("biggest", "Toronto", ("Montreal", "Vancouver", "Calgary")),
    "largest state of the United States": ("biggest", "Alaska", ("Texas", "California", "Montana")),
    "smallest state of the United States": ("tiniest", "Rhode Island", ("Delaware", "Connecticut")),
    "largest country in South America": ("biggest", "Brazil", ("Argentina", "Peru", "Colombia")),
    "largest country in Africa": ("biggest", "Algeria", ("the Democratic Republic of the Congo", "Sudan", "Libya")),
    "tallest volcano in the Solar System": ("highest", "Olympus Mons", ("Mauna Kea", "Mount Kilimanjaro")),
    "lightest element": ("least dense", "hydrogen", ("helium", "lithium")),
    "fastest bird": ("quickest", "the peregrine falcon", ("the golden eagle", "the swift", "the albatross")),
    "largest fish": ("biggest", "the whale shark", ("the great white shark", "the basking shark", "the manta ray")),
    "largest reptile": ("biggest", "the saltwater crocodile", ("the Komodo dragon", "the green anaconda")),
    "largest city in Australia": ("biggest", "Sydney", ("Melbourne", "Brisbane", "Perth")),
}
SUPERLATIVE_QUESTIONS = ("What is the {s}?", "Which is the {s}?", "Name the {s}.", "What's the {s}?")
SUPERLATIVE_SENTENCES = (
    "The {s} is {v}.", "{v} is the {s}.", "{v} is the {t}.", "The {t} is {v}.", "{v}: it is the {s}.", "That would be {v}.",
    "It's {v}, the {s}.", "{v} holds that title.",
)

LANGUAGES: dict[str, tuple[str, ...]] = {
    "Mexico": ("Spanish",), "Austria": ("German",), "Egypt": ("Arabic",), "Japan": ("Japanese",), "the Netherlands": ("Dutch",),
    "Israel": ("Hebrew",), "Greece": ("Greek",), "Turkey": ("Turkish",), "Poland": ("Polish",), "Sweden": ("Swedish",),
    "Angola": ("Portuguese",), "Kenya": ("Swahili", "Kiswahili"), "Ethiopia": ("Amharic",), "Thailand": ("Thai",),
    "Vietnam": ("Vietnamese",), "Indonesia": ("Indonesian", "Bahasa Indonesia"), "Finland": ("Finnish",),
    "Hungary": ("Hungarian", "Magyar"), "Chile": ("Spanish",), "Peru": ("Spanish",), "Russia": ("Russian",),
    "Ukraine": ("Ukrainian",), "Norway": ("Norwegian",), "Denmark": ("Danish",), "Portugal": ("Portuguese",),
    "Iran": ("Persian", "Farsi"), "South Korea": ("Korean",), "Cambodia": ("Khmer",), "Mongolia": ("Mongolian",),
    "Georgia": ("Georgian",), "Armenia": ("Armenian",), "Romania": ("Romanian",),
}
LANGUAGE_QUESTIONS = ("What language is spoken in {s}?", "What language do people speak in {s}?", "What is the main language of {s}?")
LANGUAGE_SENTENCES = (
    "Most people in {s} speak {v}.", "The main language of {s} is {v}.", "In {s}, people speak {v}.",
    "{v} is the official language of {s}.", "{v} is spoken in {s}.", "People there mostly speak {v}.",
    "The official language is {v}.", "They speak {v} there.",
)

INGREDIENTS: dict[str, tuple[str, ...]] = {
    "tofu": ("soybeans", "soya beans"), "pesto": ("basil",), "tzatziki": ("yogurt", "yoghurt"), "risotto": ("rice",),
    "polenta": ("cornmeal", "ground maize"), "couscous": ("semolina",), "baba ganoush": ("aubergine", "eggplant"),
    "borscht": ("beetroot", "beets"), "sauerkraut": ("cabbage",), "tahini": ("sesame seeds",), "marzipan": ("almonds", "ground almonds"),
    "gazpacho": ("tomatoes",), "peanut butter": ("peanuts",), "cider": ("apples",), "tequila": ("agave", "blue agave"),
    "sake": ("rice",), "chocolate": ("cocoa beans", "cacao beans"), "popcorn": ("maize", "corn"), "hash browns": ("potatoes",),
    "mead": ("honey",), "fondue": ("melted cheese", "cheese"), "ghee": ("butter",), "miso": ("soybeans", "soya beans"),
}
INGREDIENT_QUESTIONS = ("What is the main ingredient in {s}?", "What is {s} made from?", "What is {s} mainly made of?")
INGREDIENT_SENTENCES = (
    "{s} is made mainly from {v}.", "The main ingredient in {s} is {v}.", "{s} is mostly {v}.", "You make {s} mostly out of {v}.",
    "{s} is made from {v}.", "It's made from {v}.", "Mainly {v}.", "It's mostly {v}.", "The base of {s} is {v}.",
)

PERSON_NAMES = (
    ("Anna Keller", "She"), ("Maria Novak", "She"), ("Clara Moreau", "She"), ("Sofia Rossi", "She"), ("Elena Lindqvist", "She"),
    ("Laura Okafor", "She"), ("Nina Tanaka", "She"), ("Julia Silva", "She"), ("David Horvat", "He"), ("Lukas Fischer", "He"),
    ("Tomás Costa", "He"), ("Marco Brennan", "He"), ("Felix Kowalski", "He"), ("Oscar Haddad", "He"), ("Daniel Petrov", "He"),
    ("Samuel Nakamura", "He"),
)
INSTRUMENTS = {
    "the piano": "pianist", "the violin": "violinist", "the cello": "cellist", "the guitar": "guitarist", "the flute": "flautist",
    "the trumpet": "trumpeter", "the harp": "harpist", "the drums": "drummer", "the saxophone": "saxophonist",
    "the organ": "organist", "the clarinet": "clarinettist", "the oboe": "oboist", "the double bass": "double bassist",
}
INSTRUMENT_QUESTIONS = ("What instrument does {s} play?", "Which instrument does {s} play?", "What does {s} play?")
INSTRUMENT_SENTENCES = ("{s} plays {v}.", "{p} plays {v}.", "{s} is known for playing {v}.", "{p} is a player of {v}.")
PLAYER_SENTENCES = ("{s} is a {v}.", "{p} is a {v}.", "{s} works as a {v}.", "{p}'s a {v}.", "A {v}.")

LISTS: dict[str, tuple[str, ...]] = {  # a question about two things: the pool both come from
    "Which two languages does {s} speak?": ("English", "French", "German", "Spanish", "Italian", "Japanese", "Arabic", "Polish"),
    "Which two instruments does {s} play?": tuple(INSTRUMENTS),
    "Which two cities did {s} visit last summer?": ("Lisbon", "Prague", "Vienna", "Oslo", "Seoul", "Lima", "Cairo", "Dublin"),
    "Which two sports does {s} play?": ("tennis", "football", "golf", "hockey", "cricket", "badminton", "squash", "basketball"),
}
LIST_FACTS: dict[str, tuple[str, str]] = {
    "Which two colours are on the flag of Japan?": ("red", "white"), "Which two colours are on the flag of Ukraine?": ("blue", "yellow"),
    "Which two colours are on the flag of Greece?": ("blue", "white"), "Which two metals make up bronze?": ("copper", "tin"),
    "Which two metals make up brass?": ("copper", "zinc"), "Which two elements make up table salt?": ("sodium", "chlorine"),
    "Which two countries share the island of Hispaniola?": ("Haiti", "the Dominican Republic"),
    "Which two countries share the Iberian Peninsula?": ("Spain", "Portugal"),
}
LIST_SENTENCES = ("The answer is {v}.", "It's {v}.", "That would be {v}.")


# What real sampled answers carry around the answer (docs/methods.md §0.2): chatter before and after it, side facts (true
# or false, about something else), a repeated sentence, a last sentence cut at the token limit, another language.
CHATTER_BEFORE = (
    "Sure! ", "Great question! ", "Of course. ", "Globally, ", "In English, ", "Well, ", "Here is the answer: ", "Answer: ",
    "Good question. ", "Historically, ", "Interesting question! ", "Let me answer that. ", "To answer your question, ",
    "In short, ", "Absolutely! ", "Hello! ", "As a matter of fact, ", "Thanks for asking. ", "Okay, so ", "Ah, ",
)
CHATTER_AFTER = (
    " I hope this helps!", " Let me know if you have any other questions.", " This is a well-known fact.",
    " Is there anything else you would like to know?", " Thank you for asking.", " It is a common quiz question.",
    " Many people find this interesting.", " Feel free to ask more!",
)
FOREIGN_SENTENCES = (
    "La respuesta es {v}.", "La réponse est {v}.", "Die Antwort ist {v}.", "La risposta è {v}.", "A resposta é {v}.",
    "Het antwoord is {v}.", "答案是{v}。", "Ответ: {v}.", "जवाब है {v}।", "התשובה היא {v}.", "Jibu ni {v}.", "Cevap {v}.",
)
ROUGH_KINDS = ("chatter", "side-fact", "repetition", "truncation", "other-language")


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
    """One phrased question, its answer, a wrong answer of the same type and sentence templates with a `{v}` slot.

    `variants` say the answer in other words (a full name, a number in words, another unit, a former name),
    `statements` and `wrong_statements` are whole sentences stating the answer or a wrong one, and `parts` are the items
    of a two-item answer.
    """

    question: str
    answer: str
    wrong: str
    sentences: tuple[str, ...]
    casefree: bool = True
    variants: tuple[str, ...] = ()
    statements: tuple[str, ...] = ()
    wrong_statements: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()


def _fill(templates: Sequence[str], **slots: object) -> tuple[str, ...]:
    """The distinct templates with every slot but `{v}` filled in."""
    return tuple(dict.fromkeys(template.format(v="{v}", **slots) for template in templates))


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


def number_words(number: int) -> str:
    """0 <= number < 1,000,000 in English words ("two hundred and six")."""
    ones = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
            "seventeen eighteen nineteen").split()
    tens = "- - twenty thirty forty fifty sixty seventy eighty ninety".split()
    if number < 20:
        return ones[number]
    if number < 100:
        return tens[number // 10] + ("" if number % 10 == 0 else "-" + ones[number % 10])
    if number < 1000:
        rest = number % 100
        return ones[number // 100] + " hundred" + ("" if rest == 0 else " and " + number_words(rest))
    thousands, rest = divmod(number, 1000)
    return number_words(thousands) + " thousand" + ("" if rest == 0 else (" and " if rest < 100 else " ") + number_words(rest))


def _significant(value: float, figures: int) -> float:
    return float(f"{value:.{figures}g}")


def _digits(rng: random.Random, value: float) -> str:
    """A number as people write it: whole numbers with or without thousands commas, one or two decimals below 100."""
    if abs(value - round(value)) < 1e-9 or value >= 100:
        whole_number = round(value)
        return f"{whole_number:,}" if whole_number >= 10_000 or (whole_number >= 1000 and rng.random() < 0.5) else str(whole_number)
    return f"{value:.2f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.1f}".rstrip("0").rstrip(".")


def _amount(rng: random.Random, forms: Sequence[str], value: float, approximate: bool) -> str:
    """The value in one of the unit's written forms, small whole numbers now and then in words, maybe with "about"."""
    shown = number_words(int(value)) if value == int(value) and value <= 20 and rng.random() < 0.3 else _digits(rng, value)
    text = rng.choice(forms).format(n=shown)
    return f"{rng.choice(APPROXIMATELY)} {text}" if approximate and rng.random() < 0.7 else text


def _wrong_amount(rng: random.Random, value: float) -> float:
    """A clearly different amount: half, double, a third more or less, ten times, and so on."""
    return _significant(value * rng.choice((0.1, 0.3, 0.5, 0.6, 0.7, 1.4, 1.5, 2.0, 3.0, 10.0)), 3)


def _quantity_fact(rng: random.Random) -> _Fact:
    """A length, height, weight, duration or speed, its conversion to another unit (a variant) and a wrong amount."""
    questions, things, units, (low, high) = rng.choice(QUANTITIES)
    thing = rng.choice(things)
    base = _significant(math.exp(rng.uniform(math.log(low), math.log(high))), rng.choice((2, 3)))
    shown_well = [unit for unit in units if 0.5 <= base * unit[1] <= 500_000]
    (forms, factor), (other_forms, other_factor) = rng.sample(shown_well, 2)
    value = _significant(base * factor, 3)
    answer = _amount(rng, forms, value, approximate=False)
    variants = [_amount(rng, other_forms, _significant(base * other_factor, rng.choice((2, 3))), approximate=True)]
    if "{n} minutes" in forms and value in MINUTE_PHRASES:
        variants.append(rng.choice(MINUTE_PHRASES[int(value)]))
    same_unit = sorted({form.format(n=_digits(rng, value)) for form in forms} - {answer})
    if same_unit:
        variants.append(rng.choice(same_unit))
    way = rng.randrange(3)
    if way == 0:
        wrong = _amount(rng, forms, _wrong_amount(rng, value), approximate=rng.random() < 0.3)
    elif way == 1 and not 0.7 < other_factor / factor < 1.4:
        wrong = _amount(rng, other_forms, value, approximate=False)
    else:
        wrong = _amount(rng, other_forms, _wrong_amount(rng, base * other_factor), approximate=True)
    question = rng.choice(questions).format(s=thing)
    return _Fact(question, answer, wrong, _fill(QUANTITY_SENTENCES, s=thing), casefree=False, variants=tuple(variants))


def _temperature_fact(rng: random.Random) -> _Fact:
    """A temperature in °C, °F or K, the same temperature in another scale (a variant) and a wrong one."""
    celsius = rng.choice((rng.randint(-40, 40), rng.randint(40, 300), 10 * rng.randint(30, 150)))
    scales = (celsius, celsius * 9 / 5 + 32, celsius + 273.15)
    first, second = rng.sample(range(3), 2)
    answer = rng.choice(TEMPERATURE_UNITS[first]).format(n=_digits(rng, round(scales[first])))
    shown = scales[second] if second == 2 and rng.random() < 0.3 else round(scales[second])
    variant = f"{rng.choice(APPROXIMATELY)} " * (rng.random() < 0.4) + rng.choice(TEMPERATURE_UNITS[second]).format(n=_digits(rng, shown))
    offset = rng.choice((-1, 1)) * rng.choice((10, 20, 30, 50, 100))
    same_number_in_celsius = (round(scales[first]) - 32) * 5 / 9 if second == 1 else round(scales[first]) - 273.15 * (second == 2)
    if rng.random() < 0.5 or abs(same_number_in_celsius - celsius) < 20:  # -40 °C is -40 °F; 575 °F is about 575 K
        wrong = rng.choice(TEMPERATURE_UNITS[first]).format(n=_digits(rng, round(scales[first]) + offset))
    else:
        wrong = rng.choice(TEMPERATURE_UNITS[second]).format(n=_digits(rng, round(scales[first])))
    thing = rng.choice(TEMPERATURE_THINGS)
    question = rng.choice(TEMPERATURE_QUESTIONS).format(s=thing)
    return _Fact(question, answer, wrong, _fill(QUANTITY_SENTENCES, s=thing), casefree=False, variants=(variant,))


def _count_forms(count: int, noun: str) -> list[str]:
    """A count in digits and in words, bare or with its noun, and its idioms ("half a dozen")."""
    forms = [str(count), number_words(count), f"{count} {noun}", f"{number_words(count)} {noun}"]
    return forms + list(NUMBER_IDIOMS.get(count, ()))


def _count_fact(rng: random.Random) -> _Fact:
    if rng.random() < 0.7:
        question = rng.choice(_COUNT_QUESTIONS)
        count, noun = COUNTS[question]
    else:
        noun, place = rng.choice(COUNTED_THINGS)
        count, question = rng.randint(2, 120), f"How many {noun} are in {place}?"
    answer, *variants = rng.sample(_count_forms(count, noun), 3)
    wrong = rng.choice(_count_forms(_near_miss(rng, count, 1, max(4, 2 * count)), noun))
    return _Fact(question, answer, wrong, _fill(COUNT_SENTENCES + GENERIC_SENTENCES), variants=tuple(variants))


def _person_fact(rng: random.Random) -> _Fact:
    """Who made a work: the full name, the name used alone or "the composer …" all say the same."""
    work = rng.choice(_WORKS)
    verb, full_name, short_name = PEOPLE[work]
    names = [full_name, short_name] + ([f"{PERSON_ROLES[verb]} {short_name}"] if verb in PERSON_ROLES else [])
    answer, *variants = rng.sample(names, len(names))
    peers = [other for other in _WORKS if PEOPLE[other][0] == verb and PEOPLE[other][1] != full_name]
    peers = peers or [other for other in _WORKS if PEOPLE[other][1] != full_name]
    wrong = rng.choice(PEOPLE[rng.choice(peers)][1:])
    question = rng.choice(PERSON_QUESTIONS).format(verb=verb, s=work)
    return _Fact(question, answer, wrong, _fill(PERSON_SENTENCES + GENERIC_SENTENCES, verb=verb, s=work), variants=tuple(variants))


def _named_fact(rng: random.Random, question: str, names: Sequence[str], wrong_names: Sequence[str], sentences: Sequence[str]) -> _Fact:
    """An answer with several names for one thing (any of them is the answer) and a wrong one."""
    answer, *variants = rng.sample(list(names), len(names))
    return _Fact(question, answer, rng.choice(wrong_names), tuple(sentences), casefree=False, variants=tuple(variants))


def _alias_fact(rng: random.Random) -> _Fact:
    question = rng.choice(_ALIAS_QUESTIONS)
    wrong = ALIASES[_other(rng, _ALIAS_QUESTIONS, question)]
    return _named_fact(rng, question, ALIASES[question], wrong, _fill(ALIAS_SENTENCES + GENERIC_SENTENCES))


def _subject_fact(rng: random.Random, table: dict[str, tuple[str, ...]], subjects: Sequence[str], questions: Sequence[str],
                  sentences: Sequence[str]) -> _Fact:
    """A subject's answer under any of its names; the wrong answer is another subject's."""
    subject = rng.choice(subjects)
    names = table[subject]
    wrong = [name for other in table.values() for name in other if other[0] != names[0]]
    return _named_fact(rng, rng.choice(questions).format(s=subject), names, wrong, _fill((*sentences, *GENERIC_SENTENCES), s=subject))


def _language_fact(rng: random.Random) -> _Fact:
    return _subject_fact(rng, LANGUAGES, _LANGUAGE_COUNTRIES, LANGUAGE_QUESTIONS, LANGUAGE_SENTENCES)


def _ingredient_fact(rng: random.Random) -> _Fact:
    return _subject_fact(rng, INGREDIENTS, _DISHES, INGREDIENT_QUESTIONS, INGREDIENT_SENTENCES)


def _superlative_fact(rng: random.Random) -> _Fact:
    """"The largest X is Y" in other words: a synonym adjective, Y first or last."""
    category = rng.choice(_CATEGORIES)
    synonym, answer, wrongs = SUPERLATIVES[category]
    synonymous = synonym + " " + category.split(" ", 1)[1]
    question = rng.choice(SUPERLATIVE_QUESTIONS).format(s=category)
    return _Fact(question, answer, rng.choice(wrongs), _fill(SUPERLATIVE_SENTENCES + GENERIC_SENTENCES, s=category, t=synonymous),
                 casefree=False)


def _musician_fact(rng: random.Random) -> _Fact:
    """"X plays the cello" and "X is a cellist" say the same."""
    name, pronoun = rng.choice(PERSON_NAMES)
    instrument = rng.choice(_INSTRUMENT_NAMES)
    wrong = _other(rng, _INSTRUMENT_NAMES, instrument)
    players = [template.format(s=name, p=pronoun, v="{v}") for template in PLAYER_SENTENCES]
    question = rng.choice(INSTRUMENT_QUESTIONS).format(s=name)
    return _Fact(question, instrument, wrong, _fill(INSTRUMENT_SENTENCES + GENERIC_SENTENCES, s=name, p=pronoun),
                 variants=(instrument.removeprefix("the "),),
                 statements=tuple(template.replace("{v}", INSTRUMENTS[instrument]) for template in players),
                 wrong_statements=tuple(template.replace("{v}", INSTRUMENTS[wrong]) for template in players))


def _list_fact(rng: random.Random) -> _Fact:
    """A two-item answer: either order says the same, one item alone says less, another item something else."""
    if rng.random() < 0.5:
        template = rng.choice(_LIST_TEMPLATES)
        pool = LISTS[template]
        question = template.format(s=rng.choice(PERSON_NAMES)[0])
        first, second = rng.sample(pool, 2)
    else:
        question = rng.choice(_LIST_QUESTIONS)
        first, second = LIST_FACTS[question]
        pool = tuple(item for pair in LIST_FACTS.values() for item in pair)
    other = rng.choice([item for item in pool if item not in (first, second)])
    wrong = rng.choice((f"{first} and {other}", f"{other} and {second}", other))
    return _Fact(question, f"{first} and {second}", wrong, _fill(LIST_SENTENCES + GENERIC_SENTENCES),
                 variants=(f"{second} and {first}", f"both {first} and {second}"), parts=(first, second))


_COUNTRIES = tuple(CAPITALS)
_CAPITAL_NAMES = tuple(CAPITALS.values())
_TITLES = tuple(BOOKS)
_AUTHORS = tuple(sorted(set(BOOKS.values())))
_EVENT_NAMES = tuple(EVENTS)
_ELEMENT_NAMES = tuple(ELEMENTS)
_SYMBOLS = tuple(ELEMENTS.values())
_WORKS = tuple(PEOPLE)
_COUNT_QUESTIONS = tuple(COUNTS)
_ALIAS_QUESTIONS = tuple(ALIASES)
_LANGUAGE_COUNTRIES = tuple(LANGUAGES)
_DISHES = tuple(INGREDIENTS)
_CATEGORIES = tuple(SUPERLATIVES)
_INSTRUMENT_NAMES = tuple(INSTRUMENTS)
_LIST_TEMPLATES = tuple(LISTS)
_LIST_QUESTIONS = tuple(LIST_FACTS)
_DOMAINS: tuple[Callable[[random.Random], _Fact], ...] = (
    _capital_fact, _book_fact, _event_fact, _element_fact, _arithmetic_fact, _quantity_fact, _temperature_fact, _count_fact,
    _person_fact, _alias_fact, _language_fact, _ingredient_fact, _superlative_fact, _musician_fact, _list_fact,
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
    templates = [*fact.sentences, *fact.statements]
    first, second = (_sentence(rng, fact, choice, fact.answer) for choice in rng.sample(templates, 2))
    return first, second


def _equivalent(rng: random.Random, fact: _Fact) -> tuple[str, str] | None:
    """The answer said two ways: another name, unit, number form or order, or a whole statement of it."""
    forms = (fact.answer, *fact.variants)
    if fact.statements and (len(forms) < 2 or rng.random() < 0.4):
        return _definite(rng, fact, rng.choice(forms)), _sentence(rng, fact, rng.choice(fact.statements), fact.answer)
    if len(forms) < 2:
        return None
    first, second = rng.sample(forms, 2)
    return _definite(rng, fact, first), _definite(rng, fact, second)


def _slot_swap(rng: random.Random, fact: _Fact) -> tuple[str, str]:
    """The right and a wrong value: short vs short, short vs sentence, or sentence vs (often the same) sentence."""
    right = rng.choice((fact.answer, *fact.variants))
    if fact.wrong_statements and rng.random() < 0.3:
        return _definite(rng, fact, right), _sentence(rng, fact, rng.choice(fact.wrong_statements), fact.wrong)
    form = rng.randrange(3)
    if form == 0:
        return _short(rng, fact, right), _short(rng, fact, fact.wrong)
    if form == 1:
        short, long = rng.sample((right, fact.wrong), 2)
        return _short(rng, fact, short), _sentence(rng, fact, rng.choice(fact.sentences), long)
    template = rng.choice(fact.sentences)
    other = template if rng.random() < 0.5 else rng.choice(fact.sentences)
    return _sentence(rng, fact, template, right), _sentence(rng, fact, other, fact.wrong)


def _hedged(rng: random.Random, fact: _Fact) -> tuple[str, str]:
    return _hedge(rng, fact.answer), _definite(rng, fact, fact.answer)


def _unknown(rng: random.Random, fact: _Fact) -> tuple[str, str]:
    """A non-answer vs a right or wrong answer, definite or hedged."""
    value = fact.answer if rng.random() < 0.7 else fact.wrong
    answer = _hedge(rng, value) if rng.random() < 0.25 else _definite(rng, fact, value)
    non_answer = rng.choice(NON_ANSWERS)
    return non_answer.removesuffix(".") if rng.random() < 0.2 else non_answer, answer


def _partial(rng: random.Random, fact: _Fact) -> tuple[str, str] | None:
    """One item of a two-item answer -> the whole answer: the premise says less (neutral; the other way is not taught)."""
    if not fact.parts:
        return None
    return _definite(rng, fact, rng.choice(fact.parts)), _definite(rng, fact, rng.choice((fact.answer, *fact.variants)))


_Builder = Callable[[random.Random, _Fact], "tuple[str, str] | None"]
# kind, weight within its label, builder (None when the fact cannot make that kind), whether either order has the label
_FAMILIES: dict[str, tuple[tuple[str, float, _Builder, bool], ...]] = {
    ENTAILMENT: (("short-vs-sentence", 0.25, _short_vs_sentence, True), ("paraphrase", 0.25, _paraphrase, True),
                 ("equivalent", 0.5, _equivalent, True)),
    NEUTRAL: (("hedge", 0.45, _hedged, True), ("unknown", 0.3, _unknown, True), ("partial", 0.25, _partial, False)),
    CONTRADICTION: (("slot-swap", 1.0, _slot_swap, True),),
}


ANSWER_ALONE = re.compile(r"^(\{v\}(,|\?| is the one)|in \{v\}|(it|its|it's|that|that's|there|he|she|they|people there|a|the "
                          r"(answer|figure|year|book|person|official))\b)|\bit\.?$", re.I)
SENTENCE_OF_ITS_OWN = re.compile(r"\b(is|was|are|were|it's|i|i'm|that's|don't|can't|not)\b|\?", re.I)


def _side_fact(rng: random.Random) -> str:
    """A sentence that names another question's subject, true or false: it changes nothing about the answer given. A
    template that could be read as answering this question ("It's {v}.") is not used."""
    while True:
        fact = rng.choice(_DOMAINS)(rng)
        templates = [template for template in fact.sentences if not ANSWER_ALONE.search(template)]
        if templates:
            return _sentence(rng, fact, rng.choice(templates), fact.answer if rng.random() < 0.6 else fact.wrong)


def _cut(rng: random.Random, text: str) -> str:
    """The text cut after a random word short of its end, as the token limit cuts a last sentence."""
    words = text.split()
    return " ".join(words[: rng.randint(1, max(1, len(words) - 1))])


def roughen(rng: random.Random, answer: str) -> tuple[str, tuple[str, ...]]:
    """The answer as a sampled one might carry it: one or more of chatter, a side fact, the answer repeated, a cut last
    sentence and another language around it; the answer itself is kept whole. Returns the text and what was added."""
    kinds = [kind for kind in ROUGH_KINDS if rng.random() < 0.35] or [rng.choice(ROUGH_KINDS)]
    text = answer
    if "other-language" in kinds and len(answer.split()) <= 4 and not SENTENCE_OF_ITS_OWN.search(answer):
        text = rng.choice(FOREIGN_SENTENCES).replace("{v}", answer.removesuffix("."))
    if "repetition" in kinds:
        text = f"{text} {text}" if rng.random() < 0.6 else f"{text} {text} {text}"
    if "chatter" in kinds:
        text = rng.choice(CHATTER_BEFORE) + text if rng.random() < 0.7 else text + rng.choice(CHATTER_AFTER)
    if "side-fact" in kinds:
        text = f"{text} {_side_fact(rng)}"
    if "truncation" in kinds:
        text = f"{text} {_cut(rng, _side_fact(rng) if rng.random() < 0.7 else rng.choice(CHATTER_AFTER).strip())}"
    return text, tuple(kinds)


def rough_pairs(count: int, seed: int = 0, share: float = 0.8) -> list[QaPair]:
    """generate_pairs(count, seed) with each side roughened (`roughen`) with probability `share`, the labels unchanged:
    chatter, side facts, repetition, truncation and other languages around an answer do not change what it answers.
    The kind names the family and what was added ("slot-swap+chatter,truncation")."""
    rng = random.Random(f"rough-{seed}")
    pairs = []
    for pair in generate_pairs(count, seed):
        sides, added = [], set()
        for text in (pair.premise, pair.hypothesis):
            if rng.random() < share:
                text, kinds = roughen(rng, text)
                added.update(kinds)
            sides.append(text)
        kind = pair.kind + ("+" + ",".join(sorted(added)) if added else "")
        pairs.append(QaPair(pair.question, sides[0], sides[1], pair.label, kind))
    return pairs


def generate_pairs(count: int, seed: int = 0) -> list[QaPair]:
    """`count` pairs, deterministic for a seed (random.Random(seed)), a third of each label up to rounding."""
    if count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    rng = random.Random(seed)
    labels = [LABELS[i % len(LABELS)] for i in range(count)]
    rng.shuffle(labels)
    pairs = []
    for label in labels:
        families = _FAMILIES[label]
        kind, _, build, symmetric = rng.choices(families, weights=[family[1] for family in families])[0]
        built = None
        while built is None:
            fact = rng.choice(_DOMAINS)(rng)
            built = build(rng, fact)
        first, second = built
        if symmetric and rng.random() < 0.5:
            first, second = second, first
        pairs.append(QaPair(fact.question, first, second, label, kind))
    return pairs
