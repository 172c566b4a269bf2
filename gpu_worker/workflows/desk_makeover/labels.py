"""What the desk makeover looks for: the desk itself and the things people keep on one."""

DESK_ITEMS = (
    "monitor",
    "keyboard",
    "mouse",
    "laptop",
    "speaker",
    "desk lamp",
    "plant",
    "mug",
    "headphones",
    "phone",
    "book",
    "pen holder",
    "desk mat",
    "monitor stand",
    "desk organizer",
)
DESK_LABELS = ("desk",)
