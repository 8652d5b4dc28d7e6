"""Embedded vocabularies for bench/synth.py: names, nicknames, streets, towns, e-mail domains.

Lists are in rough order of real-world frequency: synth.py draws from them with Zipf-like
weights by rank, so the first entries collide often, as common names do in real data.
Surnames and towns beyond the embedded real ones are made deterministically from syllables.
"""

from __future__ import annotations

import numpy as np


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _words("""
James John Robert Michael William David Mary Richard Joseph Thomas Patricia Jennifer Charles
Linda Christopher Elizabeth Daniel Barbara Matthew Susan Anthony Jessica Mark Sarah Donald Karen
Steven Lisa Paul Nancy Andrew Betty Joshua Margaret Kenneth Sandra Kevin Ashley Brian Kimberly
George Emily Timothy Donna Ronald Michelle Edward Carol Jason Amanda Jeffrey Dorothy Ryan Melissa
Jacob Deborah Gary Stephanie Nicholas Rebecca Eric Sharon Jonathan Laura Stephen Cynthia Larry
Kathleen Justin Amy Scott Angela Brandon Shirley Benjamin Anna Samuel Brenda Gregory Pamela
Alexander Emma Frank Nicole Patrick Helen Raymond Samantha Jack Katherine Dennis Christine Jerry
Debra Tyler Rachel Aaron Carolyn Jose Janet Adam Catherine Nathan Maria Henry Heather Douglas Diane
Zachary Ruth Peter Julie Kyle Olivia Ethan Joyce Walter Virginia Noah Victoria Jeremy Kelly
Christian Lauren Keith Christina Roger Joan Terry Evelyn Gerald Judith Harold Megan Sean Andrea
Austin Cheryl Carl Hannah Arthur Jacqueline Lawrence Martha Dylan Gloria Jesse Teresa Jordan Ann
Bryan Sara Billy Madison Joe Frances Bruce Kathryn Gabriel Janice Logan Jean Albert Abigail Willie
Alice Alan Judy Juan Sophia Wayne Grace Elijah Denise Randy Amber Roy Doris Vincent Marilyn Ralph
Danielle Eugene Beverly Russell Isabella Bobby Theresa Mason Diana Philip Natalie Louis Brittany
Harry Charlotte Oliver Rose Callum Alexis Connor Kayla Liam Lily Owen Chloe Jamie Ella Lewis
Jessie Leo Mia Alfie Poppy Freddie Amelia Archie Ava Toby Isla Reece Evie Kieran Phoebe Declan
Imogen Rhys Holly Shane Freya Graham Ellie Colin Molly Stuart Lucy Neil Zoe Barry Kirsty Ian
Gemma Craig Leanne Darren Claire Gordon Fiona Trevor Joanne Malcolm Lorraine Derek Tracey Nigel
Wendy Clive Jill Rodney Gillian Stanley Maureen Leonard Sheila Norman Eileen Dean Pauline Ross
Yvonne Howard Hazel Clifford Valerie Martin Kathy Glenn Tina Frederick Marjorie Edwin Bernice
Ernest Rita Victor Sally Cecil Edith Hugh Mabel Percy Vera Reginald Irene Alfred Joy Herbert
Dawn Sidney Elaine Francis Sylvia Wilfred Lesley Bernard Marion Maurice Esther Dominic Harriet
Sebastian Florence Max Matilda Theo Eleanor Felix Bethany Hugo Jasmine Oscar Abbie Luke Caitlin
Elliot Jade Aidan Georgia Ben Paige Louise Kate Jenny Ellen Harvey Robyn Ollie Tanya Jake Nina
""")

NICKNAMES = {
    "James": "Jim Jimmy Jamie",
    "John": "Johnny Jack Jon",
    "Robert": "Rob Bob Bobby Robbie",
    "Michael": "Mike Mick Mickey",
    "William": "Will Bill Billy Liam",
    "David": "Dave Davy",
    "Mary": "Molly Polly May",
    "Richard": "Rick Dick Rich Ricky",
    "Joseph": "Joe Joey",
    "Thomas": "Tom Tommy",
    "Patricia": "Pat Patty Trish",
    "Jennifer": "Jen Jenny",
    "Charles": "Charlie Chuck Chas",
    "Elizabeth": "Liz Beth Betty Lizzie Eliza",
    "Daniel": "Dan Danny",
    "Barbara": "Barb Babs",
    "Matthew": "Matt Matty",
    "Susan": "Sue Susie",
    "Anthony": "Tony Ant",
    "Jessica": "Jess Jessie",
    "Sarah": "Sally Sara",
    "Donald": "Don Donnie",
    "Steven": "Steve",
    "Nancy": "Nan",
    "Andrew": "Andy Drew",
    "Margaret": "Maggie Peggy Meg Marge",
    "Kenneth": "Ken Kenny",
    "Kevin": "Kev",
    "Kimberly": "Kim",
    "Timothy": "Tim Timmy",
    "Ronald": "Ron Ronnie",
    "Edward": "Ed Eddie Ted",
    "Jeffrey": "Jeff",
    "Dorothy": "Dot Dottie",
    "Nicholas": "Nick Nicky",
    "Rebecca": "Becky Becca",
    "Jonathan": "Jon Johnny",
    "Stephen": "Steve",
    "Kathleen": "Kath Kathy",
    "Benjamin": "Ben Benny",
    "Samuel": "Sam Sammy",
    "Gregory": "Greg",
    "Pamela": "Pam",
    "Alexander": "Alex Sandy Xander",
    "Frank": "Frankie",
    "Patrick": "Pat Paddy",
    "Samantha": "Sam Sammy",
    "Katherine": "Kate Kathy Katie",
    "Christine": "Chris Chrissy",
    "Jerry": "Gerry",
    "Debra": "Deb Debbie",
    "Zachary": "Zach Zac",
    "Peter": "Pete",
    "Victoria": "Vicky Tori",
    "Christopher": "Chris Kit",
    "Gerald": "Gerry",
    "Judith": "Judy Jude",
    "Andrea": "Andi",
    "Hannah": "Anna",
    "Jacqueline": "Jackie",
    "Lawrence": "Larry Laurie",
    "Gloria": "Glory",
    "Frances": "Fran Frankie",
    "Kathryn": "Kate Katie",
    "Albert": "Al Bert Bertie",
    "Abigail": "Abby Gail",
    "Alice": "Ally",
    "Alan": "Al",
    "Sophia": "Sophie",
    "Raymond": "Ray",
    "Vincent": "Vince Vinny",
    "Ralph": "Rafe",
    "Eugene": "Gene",
    "Beverly": "Bev",
    "Russell": "Russ",
    "Isabella": "Bella Izzy",
    "Philip": "Phil",
    "Natalie": "Nat",
    "Louis": "Lou",
    "Harry": "Hal",
    "Charlotte": "Lottie Charlie",
    "Oliver": "Ollie Olly",
    "Alfred": "Alf Alfie Fred",
    "Frederick": "Fred Freddie",
    "Herbert": "Herb Bert",
    "Leonard": "Len Lenny Leo",
    "Stanley": "Stan",
    "Reginald": "Reg Reggie",
    "Bernard": "Bernie",
    "Francis": "Frank",
    "Dominic": "Dom",
    "Sebastian": "Seb",
    "Matilda": "Tilly",
    "Eleanor": "Ellie Nell",
    "Florence": "Flo Florrie",
    "Harriet": "Hattie",
    "Maureen": "Mo",
    "Gillian": "Jill Gill",
    "Valerie": "Val",
    "Terence": "Terry",
    "Douglas": "Doug",
    "Walter": "Walt Wally",
    "Arthur": "Art Artie",
    "Theodore": "Theo Ted",
    "Clifford": "Cliff",
    "Sidney": "Sid",
    "Wilfred": "Wilf",
    "Gordon": "Gordie",
    "Jacob": "Jake",
    "Joshua": "Josh",
    "Nathan": "Nate",
    "Cynthia": "Cindy",
    "Deborah": "Debbie Deb",
    "Stephanie": "Steph",
    "Melissa": "Mel Missy",
    "Jasmine": "Jas",
    "Caitlin": "Cait",
}

# The most common surnames (English-speaking countries), most frequent first.
REAL_SURNAMES = _words("""
Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson
Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin
Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips
Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey
Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh
Begum Wilkinson Foster Chapman Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews
Owen Palmer Holmes Mills Barnes Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray
Dixon Harvey Graham Pearson Ahmed Fletcher Walsh Kaur Gibson Howard Andrews Stewart Elliott
Reynolds Saunders Payne Fox Ford Pearce Day Brooks West Lawrence Cole Atkinson Bradley Spencer
Gill Dawson Ball Burton O'Brien Watts Rose Booth Perry Ryan Grant Wells Armstrong Francis Rees
Hayes Hart Hudson Newman Barrett Webster Hunter Gregory Carr Lowe Page Marsh Riley Dunn Woods
Parsons Berry Stone Reid Holland Hawkins Harding Porter Robertson Newton Oliver Reed Kennedy
Williamson Bird Gardner Shah Dean Lane Cooke Bates Henderson Parry Burgess Bishop Walton Burns
Nicholson Shepherd Ross Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton McDonald Yates
Hodgson Robson Curtis Hopkins O'Connor Harper Coleman Watkins Moss McCarthy Chambers O'Neill
Griffin Sharp Hardy Wheeler Potter Osborne Johnston Gordon Doyle Wallace George Jordan Hutchinson
Rowe Burke May Pritchard Gilbert Willis Higgins Read Miles Stevenson Stephenson Hammond Arnold
Buckley Walters Hewitt Barber Nelson Slater Austin Sullivan Whitehead Mann Frost Lambert Stephens
Blake Akhtar Lynch Goodwin Barton Woodward Thomson Cunningham Quinn Barnett Baxter Bibi Clayton
Nash Greenwood Jennings Holt Kemp Poole Gallagher Bartlett Fuller Lamb Davidson Hargreaves
""")

_SURNAME_HEADS = _words("""
Ash Black Brad Brook Cald Carr Chad Chester Craw Cul Dal Dar Eld Elm Fair Farn Fen Gar Glad Gold
Grims Hal Har Hart Hay Heath Hol Kirk Lang Lin Lox Mal Mar Mid Mill Mor New Nor Oak Pen Ped Rad
Ram Red Rid Rock Roth Rud Sal Sand Shel Sher Stan Stock Sut Thorn Til Wal War Wes Whit Wick Wil
Win Wor Yar Ald Bar Bex Bran Bur Cas Crom Dun Fal Hamp Hux Kes Lind Mat Ox Pick Ring Scar Swin
""")
_SURNAME_TAILS = _words("""
ley ton well wood by field ford ham son er man worth more bury cliffe ridge stone dale shaw croft
wick land ing combe stead hurst brook thorpe bourne low
""")

_TOWN_HEADS = _words("""
Ash Bas Bel Bir Black Bour Brad Bri Cam Can Car Chel Ches Col Cov Dar Der Don Dun East Glen Guild
Hal Har Hast Here Hud Ips Kend Kings Lan Lei Lin Lut Mac Maid Mal Mans Mid New Nor Not Old Ox Pen
Pet Ply Pres Read Roch Sal Scar Shef Shrew South Stan Stock Sun Swin Taun Tel Tor Wake Wal War
Wat West Wey Win Wolver Wor Yeo York
""")
_TOWN_TAILS = _words("""
bury ford ham ton field chester borough mouth wick ley stead minster bridge pool dale caster port
well by thorpe""")

STREET_NAMES = _words("""
High Station Church Main Park Victoria Green Manor Kings Queens New Mill School North South West
East London York Albert Grange Windsor Springfield Highfield Chestnut Oak Elm Ash Beech Willow
Cedar Birch Maple Holly Rowan Hawthorn Sycamore Laurel Orchard Meadow Brook River Lake Hill Valley
Forest Woodland Field Farm Bridge Castle Abbey Chapel Market Cross Fountain Garden Rose Primrose
Heather Lavender Clover Acacia Poplar Alder Hazel Juniper Cherry Apple Pear Plum Vicarage Rectory
Priory Kingsway Broadway Fairway Parkside Lakeside Riverside Hillside Woodside Bankside Seaside
Cliff Harbour Quay Dock Canal Mount Beacon Ridge Heath Common Moor Marsh Glebe Stanley Nelson
Wellington Gladstone Cromwell Clarence Cambridge Oxford Warwick Devon Cornwall Dorset Kent
Surrey Essex Norfolk Suffolk Argyle Stirling Lancaster Richmond Hampton Salisbury Winchester
Canterbury Durham Chester Lincoln Bedford Hastings Milton Shelley Byron Keats Chaucer Tennyson
Wordsworth Dickens Darwin Newton Faraday Telford Brunel Nightingale Coronation Jubilee Empire
Crown Regent Prince Princess Duke Earl Baron Sovereign Trinity Temple Cathedral Minster Spring
Summer Winter Sunny Sunset Sunrise Rainbow Meadowbank Greenbank Fernbank Ferndale Rosedale
""")

STREET_TYPES = [
    "Street",
    "Road",
    "Avenue",
    "Lane",
    "Drive",
    "Close",
    "Crescent",
    "Place",
    "Court",
    "Terrace",
    "Way",
    "Gardens",
    "Grove",
    "Square",
    "Walk",
]
STREET_ABBREV = [
    "St",
    "Rd",
    "Ave",
    "Ln",
    "Dr",
    "Cl",
    "Cres",
    "Pl",
    "Ct",
    "Tce",
    "Wy",
    "Gdns",
    "Gr",
    "Sq",
    "Wk",
]
STREET_TYPE_WEIGHTS = [18, 24, 8, 8, 7, 9, 4, 3, 4, 3, 4, 3, 2, 1, 2]

EMAIL_DOMAINS = [
    "gmail.com",
    "hotmail.com",
    "yahoo.com",
    "outlook.com",
    "icloud.com",
    "hotmail.co.uk",
    "yahoo.co.uk",
    "btinternet.com",
    "live.co.uk",
    "aol.com",
    "sky.com",
    "protonmail.com",
    "mail.com",
    "virginmedia.com",
    "talktalk.net",
]

KEYBOARD_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]


def _combine(heads: list[str], tails: list[str], seed: int) -> list[str]:
    """All head+tail combinations, in a fixed pseudo-random order (independent of user seed)."""
    names = sorted({h + t for h in heads for t in tails})
    order = np.random.default_rng(seed).permutation(len(names))
    return [names[i] for i in order]


def surnames() -> list[str]:
    """Real common surnames first, then a few thousand syllable-made ones (rank order)."""
    made = [s for s in _combine(_SURNAME_HEADS, _SURNAME_TAILS, 11) if s not in set(REAL_SURNAMES)]
    return REAL_SURNAMES + made


def towns(n: int = 400) -> list[str]:
    """``n`` town names made from syllables (rank order)."""
    return _combine(_TOWN_HEADS, _TOWN_TAILS, 12)[:n]


def keyboard_neighbours() -> dict[str, str]:
    """Letters next to each letter on a QWERTY keyboard (same row and the rows beside it)."""
    pos = {c: (r, i) for r, row in enumerate(KEYBOARD_ROWS) for i, c in enumerate(row)}
    near = {}
    for c, (r, i) in pos.items():
        close = [d for d, (r2, i2) in pos.items() if abs(r2 - r) <= 1 and abs(i2 - i) <= 1]
        near[c] = "".join(d for d in close if d != c)
    return near
