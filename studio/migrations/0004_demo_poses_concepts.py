"""Demo portrait poses (hand-drawn OpenPose COCO-18 keypoints) and five concepts, in English and Korean.

Keypoints are [x, y, confidence] in 0-1 of a 4:5 frame (aspect 0.8, width / height), in
contract/portrait.py's POSE_KEYPOINTS order; "right" is the person's right, so it is on the left of
the picture when they face the camera. An upper-body portrait: knees and ankles are out of frame
(confidence 0). Safe to run again (rows are matched by slug); reversing removes only these slugs.
"""

from django.db import migrations

OUT = [0.0, 0.0, 0.0]  # not seen / out of frame
FACE_FRONT = {  # nose, eyes, ears of a face looking at the camera
    "nose": [0.5, 0.25, 1.0],
    "right_eye": [0.46, 0.21, 1.0],
    "left_eye": [0.54, 0.21, 1.0],
    "right_ear": [0.41, 0.23, 1.0],
    "left_ear": [0.59, 0.23, 1.0],
}
ORDER = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)


def _pose(**points) -> list[list[float]]:
    merged = {**FACE_FRONT, **points}
    return [list(merged.get(name, OUT)) for name in ORDER]


TORSO = {
    "neck": [0.5, 0.43, 1.0],
    "right_shoulder": [0.3, 0.46, 1.0],
    "left_shoulder": [0.7, 0.46, 1.0],
    "right_hip": [0.39, 0.98, 1.0],
    "left_hip": [0.61, 0.98, 1.0],
}

POSES = [
    {
        "slug": "front",
        "name_en": "Facing the camera",
        "name_ko": "정면",
        "sort_order": 10,
        "keypoints": _pose(
            **TORSO,
            right_elbow=[0.25, 0.7, 1.0],
            right_wrist=[0.26, 0.93, 1.0],
            left_elbow=[0.75, 0.7, 1.0],
            left_wrist=[0.74, 0.93, 1.0],
        ),
    },
    {
        "slug": "three-quarter",
        "name_en": "Turned three-quarters",
        "name_ko": "살짝 돌아선 자세",
        "sort_order": 20,
        "keypoints": _pose(
            nose=[0.56, 0.25, 1.0],
            right_eye=[0.51, 0.21, 1.0],
            left_eye=[0.59, 0.21, 1.0],
            right_ear=[0.43, 0.23, 1.0],
            left_ear=OUT,  # turned away
            neck=[0.5, 0.43, 1.0],
            right_shoulder=[0.35, 0.47, 1.0],
            left_shoulder=[0.64, 0.44, 1.0],
            right_elbow=[0.31, 0.7, 1.0],
            right_wrist=[0.33, 0.93, 1.0],
            left_elbow=[0.66, 0.68, 1.0],
            left_wrist=[0.63, 0.9, 1.0],
            right_hip=[0.42, 0.98, 1.0],
            left_hip=[0.6, 0.97, 1.0],
        ),
    },
    {
        "slug": "arms-crossed",
        "name_en": "Arms crossed",
        "name_ko": "팔짱 낀 자세",
        "sort_order": 30,
        "keypoints": _pose(
            **TORSO,
            right_elbow=[0.26, 0.67, 1.0],
            right_wrist=[0.63, 0.63, 1.0],
            left_elbow=[0.74, 0.67, 1.0],
            left_wrist=[0.37, 0.65, 1.0],
        ),
    },
    {
        "slug": "hand-on-chin",
        "name_en": "Hand on the chin",
        "name_ko": "턱 괴는 자세",
        "sort_order": 40,
        "keypoints": _pose(
            **TORSO,
            nose=[0.51, 0.25, 1.0],
            right_elbow=[0.35, 0.72, 1.0],
            right_wrist=[0.48, 0.36, 1.0],
            left_elbow=[0.73, 0.7, 1.0],
            left_wrist=[0.38, 0.74, 1.0],
        ),
    },
    {
        "slug": "waving",
        "name_en": "Waving hello",
        "name_ko": "손 흔드는 자세",
        "sort_order": 50,
        "keypoints": _pose(
            **TORSO,
            right_elbow=[0.17, 0.52, 1.0],
            right_wrist=[0.15, 0.24, 1.0],
            left_elbow=[0.75, 0.7, 1.0],
            left_wrist=[0.74, 0.93, 1.0],
        ),
    },
]

PEOPLE_NEGATIVE = (
    "cartoon, 3d render, deformed face, asymmetric eyes, extra fingers, extra limbs, bad hands, blurry, "
    "lowres, jpeg artifacts, text, watermark, logo, oversaturated"
)

CONCEPTS = [
    {
        "slug": "studio-headshot",
        "name_en": "Studio headshot",
        "name_ko": "스튜디오 프로필",
        "description_en": "A clean studio portrait on a soft grey backdrop, lit like a professional photo shoot.",
        "description_ko": "은은한 회색 배경 앞에서 전문 촬영처럼 조명을 맞춘 깔끔한 스튜디오 인물 사진이에요.",
        "subject_kinds": ["person"],
        "prompt_template": (
            "professional studio headshot of {subject}, soft key light and subtle rim light, seamless light grey "
            "backdrop, sharp focus on the eyes, natural skin texture, 85mm portrait lens, shallow depth of field"
        ),
        "negative_prompt": PEOPLE_NEGATIVE + ", painting, illustration, harsh shadows",
        "steps": 30,
        "guidance": 6.0,
        "scheduler": "dpmpp_2m_karras",
        "control_scale": 0.7,
        "filter_strength": 0.2,
        "face_fix": True,
        "hand_fix": False,
        "poses": ["front", "three-quarter", "arms-crossed"],
        "sort_order": 10,
    },
    {
        "slug": "business-profile",
        "name_en": "Business profile",
        "name_ko": "비즈니스 프로필",
        "description_en": "Smart clothes and a softly blurred modern office: for your work profile or résumé site.",
        "description_ko": "단정한 옷차림에 은은하게 흐려진 사무실 배경으로, 회사 프로필이나 이력서 사이트에 어울려요.",
        "subject_kinds": ["person"],
        "prompt_template": (
            "corporate profile photo of {subject} wearing smart business attire, modern bright office softly "
            "blurred in the background, confident friendly expression, window light, 50mm lens, high detail"
        ),
        "negative_prompt": PEOPLE_NEGATIVE + ", casual clothes, messy background",
        "steps": 30,
        "guidance": 6.5,
        "scheduler": "dpmpp_2m_karras",
        "control_scale": 0.8,
        "filter_strength": 0.2,
        "face_fix": True,
        "hand_fix": True,
        "poses": ["front", "arms-crossed", "three-quarter", "hand-on-chin"],
        "sort_order": 20,
    },
    {
        "slug": "fairy-tale",
        "name_en": "Fairy tale",
        "name_ko": "동화 속 주인공",
        "description_en": "You as the hero of a storybook: an enchanted forest in soft watercolour and ink.",
        "description_ko": "마법의 숲을 배경으로, 수채화와 펜으로 그린 동화책의 주인공이 되어 보세요.",
        "subject_kinds": ["person"],
        "prompt_template": (
            "{subject} as the hero of a fairy-tale storybook illustration, enchanted forest, glowing fireflies, "
            "soft pastel colours, whimsical, delicate watercolour and ink, detailed"
        ),
        "negative_prompt": "photo, photorealistic, deformed face, extra fingers, extra limbs, blurry, lowres, "
        "text, watermark, logo, dark, gloomy",
        "steps": 30,
        "guidance": 7.0,
        "scheduler": "euler_a",
        "control_scale": 0.7,
        "filter_strength": 0.35,
        "face_fix": True,
        "hand_fix": False,
        "poses": ["front", "three-quarter", "waving"],
        "sort_order": 30,
    },
    {
        "slug": "film-photo",
        "name_en": "Film photo",
        "name_ko": "필름 사진",
        "description_en": "A candid 35 mm film look: natural light, soft grain and warm, muted colours.",
        "description_ko": "35mm 필름 카메라로 찍은 듯한 자연스러운 사진: 햇살, 부드러운 입자감, 차분한 색감이에요.",
        "subject_kinds": ["person"],
        "prompt_template": (
            "35mm film photograph of {subject}, Kodak Portra 400, natural afternoon light, soft film grain, "
            "candid moment, muted colours, slight halation"
        ),
        "negative_prompt": PEOPLE_NEGATIVE + ", digital look, hdr, plastic skin",
        "steps": 28,
        "guidance": 6.0,
        "scheduler": "dpmpp_sde_karras",
        "control_scale": 0.75,
        "filter_strength": 0.3,
        "face_fix": True,
        "hand_fix": False,
        "poses": ["front", "three-quarter", "hand-on-chin", "waving"],
        "sort_order": 40,
    },
    {
        "slug": "pet-birthday",
        "name_en": "Pet birthday party",
        "name_ko": "반려동물 생일 파티",
        "description_en": "A party hat, balloons and a little cake: your dog or cat's birthday portrait.",
        "description_ko": "고깔모자와 풍선, 작은 케이크와 함께하는 우리 아이의 생일 기념 사진이에요.",
        "subject_kinds": ["dog", "cat"],
        "prompt_template": (
            "a photo of {subject} at a birthday party wearing a small party hat, colourful balloons and confetti, "
            "a small birthday cake, bright cheerful light, shallow depth of field, detailed fur"
        ),
        "negative_prompt": "human, person, hands, deformed paws, extra legs, extra eyes, blurry, lowres, text, "
        "watermark, logo",
        "steps": 30,
        "guidance": 6.5,
        "scheduler": "default",
        "control_scale": 0.8,
        "filter_strength": 0.2,
        "face_fix": False,
        "hand_fix": False,
        "poses": [],
        "sort_order": 50,
    },
]


def load(apps, schema_editor):
    Pose = apps.get_model("studio", "Pose")
    Concept = apps.get_model("studio", "Concept")
    poses = {}
    for row in POSES:
        values = {k: v for k, v in row.items() if k != "slug"}
        poses[row["slug"]], _ = Pose.objects.update_or_create(slug=row["slug"], defaults={**values, "aspect": 0.8})
    for row in CONCEPTS:
        values = {k: v for k, v in row.items() if k not in ("slug", "poses")}
        concept, _ = Concept.objects.update_or_create(slug=row["slug"], defaults={**values, "pack_size": 4})
        concept.poses.set([poses[slug] for slug in row["poses"]])


def unload(apps, schema_editor):
    apps.get_model("studio", "Concept").objects.filter(slug__in=[c["slug"] for c in CONCEPTS]).delete()
    apps.get_model("studio", "Pose").objects.filter(slug__in=[p["slug"] for p in POSES]).delete()


class Migration(migrations.Migration):
    dependencies = [("studio", "0003_portraits")]

    operations = [migrations.RunPython(load, unload)]
