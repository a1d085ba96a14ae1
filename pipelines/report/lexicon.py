"""Small built-in word lists for the quality report: stopwords, definitional group words, trait and
role words, and a few function words per language for a rough language guess.

The lists are deliberately short and readable; they are part of the method the report documents,
not a linguistic resource.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# English function words (and contraction stems, since tokens split at apostrophes), never audited.
STOPWORDS = _words(
    """
    a about above across after again against all almost along already also although always am among an and
    another any anyone anything are aren around as at away back be became because become becomes been before
    being below besides between both but by came can cannot could couldn did didn do does doesn doing don done
    down during each either else enough even ever every everything few for from further get gets getting got had
    hadn has hasn have haven having he her here hers herself him himself his how however i if in into is isn it
    its itself just keep keeps kept less let lets like ll made make makes many may me might more most much must
    my myself neither never next no none nor not nothing now of off often old on once one only onto or other
    others otherwise our ours ourselves out over own per perhaps put quite rather re really same see seems
    several shall she should shouldn since so some someone something sometimes still such than that the their
    theirs them themselves then there therefore these they thing things this those though through throughout
    thus to together too toward towards under until up upon us ve very was wasn way we well were weren what
    whatever when whenever where whether which while who whoever whole whom whose why will with within without
    won would wouldn year years yet you your yours yourself yourselves
    """
)

# Words that name a gender (or a gendered kinship/role): their association with a gender is
# definitional, not a stereotype, so they are left out of the gender audit.
GENDER_WORDS = _words(
    """
    actor actress aunt aunts boy boyfriend boyfriends boys bride brother brothers businessman businesswoman
    chairman chairwoman dad daddy dads daughter daughters father fatherhood fathers female females feminine gal
    gentleman gentlemen girl girlfriend girlfriends girls grandfather grandfathers grandma grandmother
    grandmothers grandpa granny groom guy guys he her hers herself him himself his husband husbands ladies lady
    madam male males man manhood masculine maternal men miss mom mommy moms mother motherhood mothers mr mrs ms
    mum mums nephew nephews niece nieces paternal policeman policewoman salesman saleswoman she sir sister
    sisters son sons spokesman spokeswoman stepdaughter stepfather stepmother stepson uncle uncles waiter
    waitress widow widower wife wives woman womanhood women
    """
)

# Words that describe an age: definitional for the age audit.
AGE_WORDS = _words(
    """
    adolescent adult adults age aged ageing ages aging eighties eighty elderly fifties fifty forties forty
    middle nineties ninety old older oldest pensioner pensioners retiree retirees senior seniors seventies
    seventy sixties sixty teen teenage teenager teenagers teens thirties thirty twenties twenty young younger
    youngest youth youthful
    """
)

# Country names, demonyms and national languages of the shipped taxonomy's countries (and a few more):
# definitional for the country audit.
COUNTRY_WORDS = _words(
    """
    america american americans asian aussie australia australian australians brazil brazilian brazilians britain
    british briton britons canada canadian canadians deutschland dutch england english europe european france
    french german germans germany hindi holland india indian indians ireland irish italian italians italy
    kingdom latin latina latino mexican mexicans mexico netherlands northern poland pole poles polish portuguese
    scotland scottish spain spaniard spanish states united usa wales welsh
    """
)

# Trait adjectives and social roles that stereotypes are usually made of. With the default
# vocabulary ("content": every content word) these only tag words in the report; with
# vocabulary="lexicon" the audit is restricted to them.
TRAIT_ROLE_WORDS = _words(
    """
    selfless selflessness devoted supportive sacrifice determined determination nurture nurtures sensible
    accountant activist aggressive ambitious analytical artist artistic assertive athlete athletic attractive
    babysitter baking beautiful bold boss bossy brave breadwinner brilliant builder caregiver carer caring ceo
    chatty chef chores clean cleaner clever compassionate competitive confident conservative cook cooking
    creative criminal cute dancer decisive delicate devout diligent disciplined docile doctor dominant dramatic
    driver efficient electrician elegant emotional energetic engineer entitled entrepreneur executive exotic
    farmer fashionable fatherly fearless fiery forgetful frail friendly frugal gamer gangster gardening geeky
    gentle gossip gossipy graceful greedy grumpy hacker hairdresser handy hardworking homemaker hospitable
    housekeeper housewife housework humble hustler hysterical illegal immigrant independent intelligent kind
    knitting laborer labourer laid lawyer lazy leader logical lonely loud maid manager mechanic mechanical messy
    moody motherly muscular naive nanny neat nerdy nurse nurturing obedient organised organized passionate pilot
    plumber polite poor practical precise pretty programmer proud provider punctual quiet rational rebellious
    receptionist reckless relaxed religious resilient rich romantic scientist secretary sensitive shopping shy
    singer slow smart soldier spicy spiritual sporty strong stubborn stylish stylist submissive sweet talented
    teacher technical terrorist thrifty thug tidy tough traditional volunteer warm wealthy wise
    """
)

# A few frequent function words per language, for a rough guess of the narratives' language (ISO 639-1).
LANGUAGE_HINTS = {
    "en": _words("a an and are as at for has he her his in is of on she the to was who with"),
    "es": _words("con de del el en es la las los para por que se su una y"),
    "fr": _words("au avec dans des du elle est et il la le les pas pour qui sur une"),
    "de": _words("auf das den der die ein eine er im ist mit nicht sie und von zu"),
    "it": _words("alla che con del della di gli il lo nel non per sono una"),
    "pt": _words("as com da das do dos ela ele em não o os para que uma é"),
    "nl": _words("de een en het hij met niet ook op van voor ze zijn"),
    "pl": _words("do i jego jej jest na nie on ona się to w z że"),
}
