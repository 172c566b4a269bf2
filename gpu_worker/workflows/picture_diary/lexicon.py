"""The local prompt writer's bilingual lexicon: Korean and English keywords → English prompt phrases.

Each concept has a category, a key, ONE fixed English phrase, and the keywords that evoke it.
The writer only ever copies these phrases into a prompt, never a word of the diary, so names,
places, phone numbers and the like cannot leak through it, however the matching goes.

Matching rules (see `find_concepts`):
- Korean keywords are stems matched as substrings, so inflected text works ("공원에서" → 공원,
  "커피를 마셨다" → 커피). A keyword written with a leading "^" must start a word (no Hangul
  syllable right before it): "^비가" matches "비가 와서" but not "준비가".
- English keywords match whole words, case-insensitively, forms listed explicitly ("walked",
  "walking"). A Title-case word inside a sentence is taken for a proper noun and skipped
  ("Park Jiwoo", "Baker Street"), unless the keyword itself is capitalised ("Christmas").
- Where keywords overlap, the longest wins: "놀이공원" is an amusement park, not a park,
  "남자친구" a partner, not a friend, "먹구름" a cloud, not eating.
Negation ("비가 안 왔다") is not understood; a diary rarely dwells on what did not happen.
"""

from __future__ import annotations

import re
import unicodedata

from gpu_worker.lexicon import LexiconEntry, first_mentions, lexicon_rows

CATEGORIES = ("people", "activity", "scene", "mood", "weather", "time", "season")


# The diary's name for an entry of its lexicon.
Concept = LexiconEntry


# Noun phrases that follow "a person with …".
PEOPLE = lexicon_rows(
    "people",
    ("friend", "a friend", "친구|절친|베프", "friend|buddy|bestie"),
    ("friends", "friends", "친구들", "friends"),
    ("classmates", "classmates", "반 친구|같은 반|동기들|^동기랑|^동기와", "classmate|classmates"),
    ("mom", "their mother", "엄마|어머니|어머님", "mom|mum|mother|mommy"),
    ("dad", "their father", "아빠|아버지|아버님", "dad|father|daddy"),
    ("parents", "their parents", "부모님", "parents"),
    ("family", "their family", "가족|식구", "family"),
    ("grandparent", "a grandparent", "할머니|할아버지|조부모", "grandma|grandmother|grandpa|grandfather|grandparents"),
    ("sibling", "a sibling", "오빠|언니|누나|동생|^형이랑|^형과|^형하고|^형이 ", "brother|sister|sibling|siblings"),
    (
        "child",
        "a young child",
        "아들|^딸이|^딸과|^딸이랑|^딸하고|^딸을|^딸아이|^아이가|^아이와|^아이랑|^아이를|^아이들|조카|꼬마",
        "child|children|kid|kids|son|daughter",
    ),
    ("baby", "a baby", "아기|^애기", "baby"),
    (
        "couple",
        "their partner",
        "남자친구|여자친구|남친|여친|애인|^남편|^아내|와이프|^데이트",
        "boyfriend|girlfriend|husband|wife|partner",
    ),
    ("dog", "a small dog", "강아지|반려견|멍멍이|댕댕이|애견|^우리 개", "dog|dogs|puppy"),
    ("cat", "a cat", "고양이|냥이|반려묘", "cat|cats|kitten"),
    ("coworkers", "coworkers", "동료|팀장|상사|팀원", "coworker|coworkers|colleague|colleagues"),
    ("teacher", "a teacher", "선생님|^쌤|교수님", "teacher|professor"),
)

# Participles that follow the people: "a person with a friend taking a walk".
ACTIVITIES = lexicon_rows(
    "activity",
    ("walk", "taking a walk", "산책|^걷|걸어 |걸어갔|걸어왔|걸어다", "walk|walked|walking|stroll|strolled|strolling"),
    ("read", "reading a book", "책을 읽|책 읽|독서|^읽었|^읽고|소설", "read|reading|novel"),
    ("cook", "cooking in a kitchen", "요리|^밥을 했|^밥을 지|^음식을 만들|^끓였", "cook|cooked|cooking"),
    (
        "eat",
        "sharing a meal",
        "^먹|^밥을|^밥 |식사|점심|^저녁을 먹|^아침을 먹|맛있",
        "eat|ate|eating|lunch|dinner|breakfast|meal|hot dog",
    ),
    ("run", "jogging", "달리기|^달렸|^뛰었|조깅|러닝|마라톤", "run|ran|running|jog|jogged|jogging|marathon"),
    ("study", "studying at a desk", "공부|시험|숙제|과제", "study|studied|studying|homework|exam|exams"),
    ("play", "playing together", "^놀았|^놀고|^놀러|^놀이|장난", "play|played|playing"),
    ("coffee", "drinking coffee", "커피|라떼|아메리카노|카푸치노", "coffee|latte|espresso|cappuccino"),
    ("tea", "sipping a warm drink", "^차를 마|^차 한|녹차|홍차|유자차|핫초코|코코아", "tea|cocoa|hot chocolate"),
    ("shop", "shopping", "쇼핑|^장을 보|^장보", "shop|shopped|shopping|groceries"),
    ("swim", "swimming", "수영", "swim|swam|swimming"),
    ("bike", "riding a bicycle", "자전거|따릉이", "bike|biked|biking|bicycle|cycling|cycled"),
    ("hike", "hiking", "등산|하이킹|트레킹", "hike|hiked|hiking|trek|trekking"),
    ("draw", "drawing a picture", "그림을 그|그림 그|^그렸|스케치", "draw|drew|drawing|sketch|sketched|painted"),
    (
        "music",
        "playing music",
        "노래|피아노|^기타를|^기타 |악기|음악",
        "sing|sang|singing|song|songs|music|piano|guitar",
    ),
    ("movie", "watching a movie", "영화", "movie|movies|film"),
    ("work", "working at a laptop", "^일했|^일을|^일하|업무|야근", "worked|working|overtime"),
    ("clean", "tidying up the room", "청소|빨래|설거지|^정리했", "clean|cleaned|cleaning|laundry|tidied"),
    ("rest", "resting on a sofa", "낮잠|^쉬었|^쉬는|휴식|^누워|뒹굴", "rested|resting|nap|napped"),
    ("game", "playing video games", "게임", "game|games|gaming"),
    ("travel", "travelling with a small suitcase", "여행", "trip|travel|traveled|travelled|traveling|vacation"),
    ("picnic", "having a picnic", "피크닉|소풍|돗자리", "picnic"),
    ("photo", "taking photos", "사진을 찍|사진 찍|^사진을 많이", "photo|photos|photograph|photographs|camera"),
    ("bake", "baking", "베이킹|^빵을 구|^쿠키를 만|^케이크를 만", "bake|baked|baking"),
    ("ice_cream", "eating ice cream", "아이스크림|빙수|아이스크림을 먹|빙수를 먹", "ice cream"),
    ("birthday", "celebrating with a birthday cake", "생일", "birthday"),
    ("dance", "dancing", "^춤|댄스", "dance|danced|dancing"),
)

SCENES = lexicon_rows(
    "scene",
    ("park", "in a green park", "공원", "park|parks"),
    ("amusement_park", "at an amusement park", "놀이공원|놀이동산", "amusement park|theme park"),
    ("playground", "at a playground", "놀이터", "playground"),
    ("beach", "on a sandy beach by the sea", "바다|해변|바닷가|해수욕장", "beach|sea|ocean|seaside"),
    ("cafe", "in a cozy cafe", "카페|까페|커피숍|커피숖", "cafe|café|coffee shop"),
    ("home", "in a cozy living room at home", "^집에|^집으로|^집 |^집안|우리집|우리 집|거실", "home|house|living room"),
    ("kitchen", "in a warm kitchen", "부엌|주방", "kitchen"),
    ("bedroom", "in a bedroom", "침대|^내 방|^방에|^방 안", "bedroom|bed"),
    ("school", "in a school classroom", "학교|교실|^수업|학원|캠퍼스", "school|classroom|campus|university|college"),
    ("office", "in an office", "회사|사무실|출근|^회의", "office|workplace"),
    ("library", "in a quiet library", "도서관", "library"),
    ("mountain", "on a mountain trail", "^산에|^산을|^산으로|산길|산속|뒷산|^정상에", "mountain|mountains|hill|hills"),
    ("river", "by a wide river", "^강가|^강변|^강에|^강을|^강물|한강|개울|냇가", "river|riverside|stream"),
    ("lake", "by a calm lake", "호수", "lake"),
    ("street", "on a busy city street", "길거리|시내|번화가|도심|골목", "street|downtown|city|alley"),
    ("wet_street", "on a rain-soaked street", "빗길|젖은 거리|젖은 길", "wet street|rain-soaked|rainy street"),
    ("restaurant", "in a cozy restaurant", "식당|레스토랑|맛집|외식|고깃집|분식집", "restaurant|diner|bistro"),
    ("subway", "on a subway train", "지하철|전철", "subway|metro"),
    ("train", "on a train by the window", "기차|KTX", "train"),
    ("bus", "on a city bus", "버스", "bus"),
    ("market", "in a busy market", "^마트|시장|편의점", "market|supermarket|grocery store"),
    ("garden", "in a garden", "^정원에서|텃밭|마당|^꽃밭", "garden|backyard|yard"),
    ("hospital", "in a hospital waiting room", "병원", "hospital|clinic"),
    ("airport", "at an airport", "공항", "airport"),
    ("theater", "in a movie theater", "영화관|극장", "cinema|movie theater"),
    ("concert", "at a concert", "콘서트|공연", "concert|gig"),
    ("museum", "in a museum gallery", "박물관|미술관|전시", "museum|gallery|exhibition"),
    ("pool", "at a swimming pool", "수영장", "pool|swimming pool"),
)

# The writer's own mood codes (gpu_worker.contract.picture_diary.MOODS) are keys here.
MOODS = lexicon_rows(
    "mood",
    (
        "happy",
        "cheerful happy mood",
        "행복|기분이 좋|기분 좋|즐거|즐겁|기뻤|기쁘|기뻐|^웃었|웃음",
        "happy|glad|joy|joyful|cheerful|fun",
    ),
    (
        "calm",
        "calm peaceful mood",
        "편안|^편했|평화|여유|차분|느긋|한가했|한가한|한가로|힐링|고요",
        "calm|peaceful|relaxed|relaxing|cozy|cosy",
    ),
    ("excited", "lively excited mood", "신나|신났|설레|설렜|두근|흥분", "excited|exciting|thrilled"),
    ("grateful", "warm grateful mood", "감사|고마|고맙", "grateful|thankful|thanks|blessed"),
    ("tired", "tired quiet mood", "피곤|지쳤|지친|힘들|힘든|졸려|졸렸|녹초", "tired|exhausted|sleepy|drained|worn out"),
    (
        "sad",
        "melancholy mood",
        "슬펐|슬프|슬퍼|우울|울었|눈물|속상|서러|서운",
        "sad|unhappy|cried|crying|upset|depressed|gloomy",
    ),
    (
        "angry",
        "tense frustrated mood",
        "^화가 나|^화가 났|^화나|^화났|짜증|열받|분노|억울",
        "angry|annoyed|furious|frustrated",
    ),
    ("lonely", "quiet lonely mood", "외로|외롭|쓸쓸", "lonely"),
    (
        "nostalgic",
        "nostalgic dreamy mood",
        "그립|그리워|그리웠|추억|옛날|어렸을 때|어릴 때",
        "nostalgic|nostalgia|memories",
    ),
)

WEATHER = lexicon_rows(
    "weather",
    (
        "sunny",
        "clear sunny sky",
        "맑|화창|햇살|햇빛|쨍쨍|^날씨가 좋|^날씨 좋",
        "sunny|sunshine|sunlight|clear sky|blue sky",
    ),
    ("warm", "warm gentle air", "따뜻|따듯|포근", "warm|mild"),
    ("hot", "hot summer heat", "더웠|^덥|더워|무더|폭염", "hot|heat|heatwave|scorching|humid"),
    ("cold", "cold crisp air", "추웠|^춥|추워|쌀쌀|영하", "cold|chilly|freezing|frosty"),
    (
        "rain",
        "rainy day with wet reflections",
        "^비가|^비 |^비를|^비도|^비와|^비에|^비는|^비오|빗소리|빗방울|빗속|빗물|우산|장마|소나기",
        "rain|rained|raining|rainy|umbrella|drizzle|downpour",
    ),
    (
        "snow",
        "falling snow",
        "^눈이 와|^눈이 오|^눈이 내|^눈이 많이|^눈이 쌓|^눈이 펑펑|^눈 오|^눈 내|^눈오"
        "|눈사람|함박눈|첫눈|눈싸움|^눈밭|설경",
        "snow|snowed|snowing|snowy|snowman|snowflakes",
    ),
    ("cloudy", "soft overcast sky", "흐리|흐렸|흐림|흐린|구름|먹구름", "cloudy|overcast|clouds|grey sky|gray sky"),
    ("windy", "a breezy day with swaying leaves", "^바람이|^바람도|^바람 불|^바람불|강풍", "windy|wind|breeze|breezy"),
    ("foggy", "misty fog", "안개", "fog|foggy|mist|misty"),
    ("storm", "dramatic stormy sky", "천둥|번개|태풍|폭풍", "storm|stormy|thunder|lightning|typhoon"),
)

TIMES = lexicon_rows(
    "time",
    ("dawn", "early sunrise light", "새벽|일출|해돋이", "dawn|sunrise|daybreak"),
    ("morning", "bright morning light", "아침|오전", "morning"),
    ("afternoon", "afternoon daylight", "오후|^낮에|한낮|대낮", "afternoon|noon|midday"),
    ("sunset", "golden sunset glow", "노을|석양|^해질|^해 질|일몰|^해가 지", "sunset|dusk|twilight"),
    ("evening", "soft evening light", "저녁", "evening"),
    ("night", "night scene with warm lamp light", "밤|야경|^자정", "night|nights|nighttime|midnight|tonight"),
)

SEASONS = lexicon_rows(
    "season",
    ("spring", "spring cherry blossoms", "^봄|벚꽃|꽃놀이|꽃구경", "spring|cherry blossom|cherry blossoms"),
    ("summer", "lush green summer", "여름", "summer"),
    ("autumn", "autumn leaves", "가을|단풍|낙엽", "autumn|fall leaves|foliage"),
    ("winter", "winter scenery", "겨울", "winter"),
    ("christmas", "christmas lights", "크리스마스|성탄", "Christmas|xmas"),
)

CONCEPTS: tuple[Concept, ...] = PEOPLE + ACTIVITIES + SCENES + MOODS + WEATHER + TIMES + SEASONS
MOOD_PHRASES: dict[str, Concept] = {concept.key: concept for concept in MOODS}

# Words that contain a keyword but mean something else. They take part in the longest-match
# contest like keywords and then evoke nothing: "아기자기" (quaint) holds 아기 (baby), "주춤"
# (hesitate) holds 춤 (dance), "전화를 걸어" (to phone) holds 걸어 (walking), "한가운데"
# (the middle) holds 한가 (idle), "the rest of the day" is no rest.
BLOCKERS_KO = ("아기자기", "주춤", "전화를 걸어", "한가운데")
BLOCKERS_EN = ("the rest", "hot spring", "hot springs")

_HANGUL = "\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f"


def _pattern(keyword: str, *, english: bool) -> re.Pattern[str]:
    if english:
        body = r"\s+".join(re.escape(word).replace(r"\-", r"[-\s]") for word in keyword.split())
        return re.compile(rf"(?<![^\W\d_]){body}(?![^\W\d_])", re.IGNORECASE)
    if keyword.startswith("^"):
        return re.compile(rf"(?<![{_HANGUL}]){re.escape(keyword[1:])}")
    return re.compile(re.escape(keyword))


_BLOCKER = -1
# (pattern, concept index or _BLOCKER, whether an English keyword is written capitalised, i.e. a proper noun).
_INDEX: tuple[tuple[re.Pattern[str], int, bool], ...] = tuple(
    [(_pattern(kw, english=False), i, False) for i, c in enumerate(CONCEPTS) for kw in c.ko]
    + [(_pattern(kw, english=True), i, kw[:1].isupper()) for i, c in enumerate(CONCEPTS) for kw in c.en]
    + [(_pattern(kw, english=False), _BLOCKER, False) for kw in BLOCKERS_KO]
    + [(_pattern(kw, english=True), _BLOCKER, False) for kw in BLOCKERS_EN]
)


def normalise(text: str) -> str:
    # NFC: Korean typed on macOS may arrive as decomposed jamo, which no syllable keyword would match.
    return " ".join(unicodedata.normalize("NFC", text).split())


def _inside_sentence(text: str, start: int) -> bool:
    before = text[:start].rstrip(" \"'(“‘")
    return bool(before) and before[-1] not in ".!?…\n"


def find_concepts(text: str) -> list[Concept]:
    """The concepts the diary mentions, each once, in the order the diary first mentions them."""
    text = normalise(text)
    candidates: list[tuple[int, int, int]] = []
    for pattern, index, proper_noun in _INDEX:
        for match in pattern.finditer(text):
            word = match.group()
            is_title = word[0].isupper() and not word.isupper()
            if is_title and not proper_noun and _inside_sentence(text, match.start()):
                continue  # "Park Jiwoo", "Baker Street": a name, not a park or a street
            candidates.append((match.start(), match.end(), index))
    return [CONCEPTS[index] for index in first_mentions(candidates, blocker=_BLOCKER)]
