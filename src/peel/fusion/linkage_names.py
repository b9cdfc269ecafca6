"""Given names that are the same name: short forms and spellings common in British records.

``Bob``, ``Rob`` and ``Robbie`` are all ``Robert`` on another agency's form, yet no spelling
distance says so. Each line below is one name (its first word) with its other forms. A form
may belong to several names (``Bert`` to Albert, Herbert and Robert) without joining them:
two records share a name when the lists of names their first given names may stand for
overlap, so ``Bert`` matches ``Robert`` but ``Albert`` does not match ``Robert``.
"""

from __future__ import annotations

from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

GROUPS = """
abigail abbie abby abi gail
abraham abe abram
adrian ade
albert al bert bertie
alexander alex alec alexandra alexa sandy sandra xander lexi zander
alfred alf alfie fred
alice alicia ali allie
amanda mandy manda
andrew andy drew
angela angie
anne ann anna annie nan nancy hannah
anthony antony tony ant
archibald archie archy
arthur art artie
barbara barbie babs
benjamin ben benji benny
bernard bernie
beatrice bea trixie
bradley brad
caroline carol carole carrie
catherine katherine kathryn katharine cath kath kathy cathy kate katie katy kay kit kitty
charles charlie chas chuck
charlotte lottie lotte
christina christine kristina kristine chris chrissie tina
christopher chris kit topher
clifford cliff
cynthia cindy
daniel dan danny
david dave davey davy
deborah debra debbie deb
dennis denis den
diana diane di
dominic dom
donald don donnie
dorothy dot dottie dolly
douglas doug dougie
edward ed eddie ted teddy ned edwin edmund
eleanor elinor ellen nell nellie ella ellie elaine
elizabeth eliza liz lizzie lizzy beth betty bess bessie elsie libby lisa elspeth
emily em emmy emma
eugene gene
frances fran fanny francesca
francis frank frankie
frederick frederic fred freddie freddy
gabriel gabe gabby gabrielle
geoffrey jeffrey geoff jeff
george georgie georgina
gerald gerry jerry gerard
gregory greg
harold harry hal
henry harry hank hal
herbert herb bert
hugh hughie hugo
isaac ike
isabel isabella isobel izzy bella
jacob jake jack
james jim jimmy jamie jem
jane janet jenny jean jeanette janie
jennifer jenny jen jenna
jessica jess jessie
john jack johnny jon jonathan jonny
joseph joe joey jo
josephine jo josie
joshua josh
judith judy jude
julian jules
kenneth ken kenny
lawrence laurence larry laurie
leonard leo len lenny leon
lewis louis lou
louisa louise lou lulu
margaret maggie meg peggy madge marge margie maisie greta margo
martha mattie patty
martin marty
mary molly polly mae maria marie may mamie
matilda tilly tilda maud maude
matthew matt matty
michael mike mick mickey mikey
nathan nathaniel nat nate
nicholas nick nicky nic
nicola nicole nikki
oliver ollie olly
pamela pam
patricia pat patty tricia trish
patrick pat paddy
peter pete
philip phillip phil pip
rachel rae
raymond ray
rebecca becky becca bex
richard dick rick ricky richie rich
robert bob bobby rob robbie robin bert
roger rodge
ronald ron ronnie
rosemary rose rosie rosa
samuel sam sammy samantha
sarah sara sally sadie
simon si
solomon sol
stephen steven steve stevie
susan susanna susannah sue susie suzanne
theodore theo ted teddy
thomas tom tommy thom
timothy tim timmy
valentine val valerie
victoria vicky vicki tori
vincent vince vinny
walter walt wally
william will bill billy willie willy liam wilhelm
winifred winnie freda
zachary zach zack
"""


@cache
def _lookup() -> tuple[pa.Array, pa.Array]:
    """Every listed form, and the names it may stand for, as Arrow arrays."""
    meanings: dict[str, set[str]] = {}
    for line in GROUPS.strip().splitlines():
        name, *forms = line.split()
        for form in (name, *forms):
            meanings.setdefault(form, set()).add(name)
    forms = sorted(meanings)
    return pa.array(forms), pa.array([sorted(meanings[f]) for f in forms], pa.list_(pa.string()))


def name_meanings(given_names: pa.Array) -> pa.Array:
    """The names each first given name may stand for (itself when unlisted; null stays null)."""
    first = pc.list_element(pc.utf8_split_whitespace(given_names, max_splits=1), 0)
    forms, meanings = _lookup()
    found = pc.take(meanings, pc.index_in(first, forms))
    offsets = pa.array(range(len(first) + 1), pa.int32())
    itself = pa.ListArray.from_arrays(offsets, first, mask=pc.is_null(first))
    return pc.if_else(pc.is_null(found), itself, found)
