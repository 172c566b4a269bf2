// The before/after slider (result page, home page showcases) and the pins on it.
//
// - Drag anywhere on the picture, with a mouse or a finger (pointer events; vertical swipes still
//   scroll the page: touch-action: pan-y), or use the range input below it and its arrow keys.
// - Pins never hide each other: pins that land on or near the same point are spread out, the same
//   way every time (pins in number order; each takes the nearest free place on rings around its
//   own point, the "after" side first).
// - Pins live on the "after" side: a pin the "before" side covers is hidden until the slider moves
//   past it, and the slider starts left of every pin so that all of them can be seen and clicked.
(function () {
  const GAP = 6; // px between two pins

  function clamp(value, low, high) { return Math.min(high, Math.max(low, value)); }

  function setup(root) {
    const frame = root.querySelector(".compare-frame");
    const range = root.querySelector(".compare-range");
    if (!frame || !range) return;
    const allPins = () => Array.from(frame.querySelectorAll(".pin")); // read each time: pins may change
    let position = Number(range.value);

    function spread() {
      const pins = allPins();
      const width = frame.clientWidth, height = frame.clientHeight;
      if (!width || !height) {
        // Not laid out yet (pictures loading): each pin at its own point until there is room to spread.
        // Set here, not in the markup: the Content-Security-Policy allows no style attributes.
        pins.forEach((pin) => {
          pin.style.left = Number(pin.dataset.x) + "%";
          pin.style.top = Number(pin.dataset.y) + "%";
        });
        return;
      }
      if (!pins.length) return;
      const size = pins[0].offsetWidth || 28;
      const distance = size + GAP;
      const half = size / 2;
      const placed = [];
      // Directions on each ring: right first (towards "after"), then around both ways.
      const directions = [0, 1, -1, 2, -2, 3, -3, 4].map((k) => (k * Math.PI) / 4);
      pins.forEach((pin) => {
        const x0 = (Number(pin.dataset.x) / 100) * width;
        const y0 = (Number(pin.dataset.y) / 100) * height;
        let spot = null;
        for (let ring = 0; ring <= 30 && !spot; ring++) {
          const count = ring === 0 ? 1 : directions.length * ring;
          for (let k = 0; k < count && !spot; k++) {
            const base = directions[k % directions.length];
            const turn = ring === 0 ? 0 : Math.floor(k / directions.length) * ((Math.PI / 4) / ring);
            const angle = base + turn;
            const x = clamp(x0 + ring * distance * Math.cos(angle), half, width - half);
            const y = clamp(y0 + ring * distance * Math.sin(angle), half, height - half);
            if (placed.every((p) => Math.hypot(p.x - x, p.y - y) >= distance)) spot = { x, y };
          }
        }
        spot = spot || { x: x0, y: y0 };
        placed.push(spot);
        pin.style.left = (spot.x / width) * 100 + "%";
        pin.style.top = (spot.y / height) * 100 + "%";
        pin.dataset.placedX = String((spot.x / width) * 100);
        pin.dataset.halfWidth = String((half / width) * 100);
      });
    }

    function apply() {
      const pins = allPins();
      frame.style.setProperty("--position", position + "%");
      range.value = String(position);
      pins.forEach((pin) => {
        const x = Number(pin.dataset.placedX || pin.dataset.x);
        const covered = x - Number(pin.dataset.halfWidth || 0) < position;
        pin.classList.toggle("covered", covered);
        pin.setAttribute("aria-hidden", covered ? "true" : "false");
        pin.tabIndex = covered ? -1 : 0;
      });
    }

    function startLeftOfPins() {
      // Every pin visible (and clickable) at first, with some of "before" still showing.
      const pins = allPins();
      if (!pins.length) return;
      const leftmost = Math.min(
        ...pins.map((pin) => Number(pin.dataset.placedX || pin.dataset.x) - Number(pin.dataset.halfWidth || 0)));
      // No lower bound but the edge: a pin within a few percent of the left edge must not start hidden.
      position = clamp(Math.min(position, leftmost - 2), 0, 50);
    }

    let laidOut = false;
    function layout() {
      spread();
      if (!laidOut && frame.clientWidth && frame.clientHeight) {
        laidOut = true;
        startLeftOfPins();
      }
      apply();
    }

    function moveTo(clientX) {
      const rect = frame.getBoundingClientRect();
      if (!rect.width) return;
      position = clamp(((clientX - rect.left) / rect.width) * 100, 0, 100);
      apply();
    }

    let dragging = null; // {id, startX, startY, moved}
    frame.addEventListener("pointerdown", (event) => {
      if (event.target.closest(".pin")) return; // a pin is a link: let it be clicked
      if (event.pointerType === "mouse" && event.button !== 0) return;
      dragging = { id: event.pointerId, startX: event.clientX, moved: false };
      frame.setPointerCapture(event.pointerId);
      frame.classList.add("dragging");
      if (event.pointerType === "mouse") {
        event.preventDefault(); // no image drag-and-drop, no text selection
        moveTo(event.clientX);
      }
    });
    frame.addEventListener("pointermove", (event) => {
      if (!dragging || event.pointerId !== dragging.id) return;
      if (Math.abs(event.clientX - dragging.startX) > 2) dragging.moved = true;
      moveTo(event.clientX);
    });
    function end(event) {
      if (!dragging || event.pointerId !== dragging.id) return;
      if (event.type === "pointerup" && !dragging.moved) moveTo(event.clientX); // a tap moves the slider there
      dragging = null;
      frame.classList.remove("dragging");
    }
    frame.addEventListener("pointerup", end);
    frame.addEventListener("pointercancel", end); // the browser took over to scroll the page
    frame.addEventListener("dragstart", (event) => event.preventDefault());
    range.addEventListener("input", () => { position = Number(range.value); apply(); });

    root.addEventListener("compare:layout", layout); // e.g. after pins were changed
    frame.querySelectorAll("img").forEach((img) => { if (!img.complete) img.addEventListener("load", layout); });
    if (window.ResizeObserver) new ResizeObserver(layout).observe(frame);
    else window.addEventListener("resize", layout);
    layout();
  }

  document.querySelectorAll(".compare-slider").forEach(setup);
})();
