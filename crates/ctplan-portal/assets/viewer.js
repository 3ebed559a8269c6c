// The case viewer: the model's meshes (glTF, meshopt-compressed) in three.js, toggles and
// transparency, tap-to-resect on a lung case (answered by POST /api/cases/{case}/resect on the
// model the server keeps loaded), and for a cranial case the skull, the implant and the
// downloads for printing. Coordinates: the glTF frame is x = Left, y = Superior,
// z = Anterior in metres; the API speaks LPS millimetres.
import * as THREE from "/assets/vendor/three/three.module.js";
import { OrbitControls } from "/assets/vendor/three/controls/OrbitControls.js";
import { GLTFLoader } from "/assets/vendor/three/loaders/GLTFLoader.js";
import { MeshoptDecoder } from "/assets/vendor/three/libs/meshopt_decoder.module.js";

const SEGMENT = /^[RL]S\d/;
let current = null; // the open view, torn down when another opens
let onMark = null; // the open case's handler of "lesion at the cursor"

/** LPS mm → glTF frame (m). */
export const toScene = (p) => new THREE.Vector3(p[0] / 1000, p[2] / 1000, -p[1] / 1000);
/** glTF frame (m) → LPS mm. */
export const toLps = (v) => [v.x * 1000, -v.z * 1000, v.y * 1000];

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

/** Distance from point p to the segment a–b (arrays, mm). */
function toSegment(p, a, b) {
  const ab = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
  const ap = [p[0] - a[0], p[1] - a[1], p[2] - a[2]];
  const l = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
  const t = l > 0 ? Math.max(0, Math.min(1, (ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2]) / l)) : 0;
  const d = [ap[0] - t * ab[0], ap[1] - t * ab[1], ap[2] - t * ab[2]];
  return Math.hypot(d[0], d[1], d[2]);
}

/** Follow a job's progress by its event stream (Server-Sent Events) to its end: resolves when
 * it is done, rejects with its reason when it failed. */
export function follow(jobId, onProgress) {
  return new Promise((ok, no) => {
    const es = new EventSource(`/api/jobs/${encodeURIComponent(jobId)}/events`);
    const seen = (e) => { const j = JSON.parse(e.data); onProgress(j); return j; };
    es.addEventListener("progress", seen);
    es.addEventListener("done", (e) => { seen(e); es.close(); ok(); });
    es.addEventListener("failed", (e) => { const j = seen(e); es.close(); no(new Error(j.error || "the job failed")); });
  });
}

/** Open a case in the viewer. */
export async function openCase(ctx) {
  if (current) current.dispose();
  const { api, detail } = ctx;
  const id = encodeURIComponent(detail.case.id);
  const t0 = performance.now();
  const view = makeView(ctx.canvas);
  current = view;
  const files = detail.files || [];
  const resp = await api("GET", `/api/cases/${id}/files/scene.glb`, undefined, undefined, true);
  const gltf = await view.load(await resp.arrayBuffer());
  ctx.hover.classList.add("hidden");
  // A cranial case is seen from its implant's side; a chest from the front.
  view.frame(detail.case.kind === "cranio" ? view.meshes.get("implant") : null);
  const info = view.info();
  window.ctplanViewer = view; // for the browser tests and the console
  view.openedMs = performance.now() - t0;
  view.memory = info;
  ctx.panel.replaceChildren();
  ctx.panel.append(el("h3", {}, detail.case.name));
  ctx.panel.append(el("p", { class: "note", id: "scene-info" },
    `${info.triangles.toLocaleString()} triangles, ~${(info.bytes / 1048576).toFixed(1)} MB of GPU buffers; opened in ${(view.openedMs / 1000).toFixed(2)} s`));
  structures(ctx.panel, view, gltf);
  if (detail.case.kind === "cranio") await cranial(ctx, view, id, files);
  else await lung(ctx, view, id);
  return view;
}

function makeView(canvas) {
  const renderer = new THREE.WebGLRenderer({ canvas, antialias: true });
  renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x15181c);
  const camera = new THREE.PerspectiveCamera(40, 1, 0.001, 10);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x444444, 2.0));
  const sun = new THREE.DirectionalLight(0xffffff, 1.5);
  camera.add(sun);
  scene.add(camera);
  const controls = new OrbitControls(camera, canvas);
  controls.enableDamping = true;
  const extra = new THREE.Group();
  scene.add(extra);
  let root = null;
  let alive = true;
  const resize = () => {
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.floor(w * renderer.getPixelRatio()) || canvas.height !== Math.floor(h * renderer.getPixelRatio())) {
      renderer.setSize(w, h, false);
      camera.aspect = w / Math.max(h, 1);
      camera.updateProjectionMatrix();
      return true;
    }
    return false;
  };
  // Drawn only when something changed (a phone's battery and a laptop's fan are spared):
  // the camera still moving, or `view.dirty` set by whoever changed the scene.
  const loop = () => {
    if (!alive) return;
    const resized = resize();
    const moved = controls.update();
    if (resized || moved || view.dirty) {
      view.dirty = false;
      renderer.render(scene, camera);
      view.frames = (view.frames || 0) + 1;
    }
    requestAnimationFrame(loop);
  };
  controls.addEventListener("change", () => { view.dirty = true; });
  requestAnimationFrame(loop);
  const view = {
    scene, camera, renderer, controls, extra, dirty: true,
    meshes: new Map(),
    async load(buffer) {
      const loader = new GLTFLoader();
      loader.setMeshoptDecoder(MeshoptDecoder);
      await MeshoptDecoder.ready;
      const gltf = await loader.parseAsync(buffer, "");
      root = gltf.scene;
      root.traverse((o) => {
        if (o.isMesh) {
          o.material.side = THREE.DoubleSide;
          o.material.depthWrite = !o.material.transparent;
          o.userData.color = o.material.color.clone();
          o.userData.opacity = o.material.opacity;
          view.meshes.set(o.name || o.parent.name, o);
        }
      });
      // Transparent shells drawn after the solid structures inside them.
      for (const [name, m] of view.meshes) m.renderOrder = SEGMENT.test(name) ? 2 : m.material.transparent ? 3 : 1;
      scene.add(root);
      return gltf;
    },
    frame(toward) {
      const box = new THREE.Box3().setFromObject(root);
      const c = box.getCenter(new THREE.Vector3());
      const r = box.getSize(new THREE.Vector3()).length() / 2 || 0.1;
      // Seen from the front (anterior, +z), head up; or from the side of `toward`.
      let dir = new THREE.Vector3(0, 0, 1);
      if (toward) {
        const d = new THREE.Box3().setFromObject(toward).getCenter(new THREE.Vector3()).sub(c);
        if (d.length() > 1e-6) dir = d.normalize();
      }
      camera.position.copy(c).addScaledVector(dir, r * 2.6);
      camera.up.set(0, 1, 0);
      controls.target.copy(c);
      controls.update();
    },
    info() {
      let triangles = 0, bytes = 0;
      root.traverse((o) => {
        if (!o.isMesh) return;
        const g = o.geometry;
        triangles += (g.index ? g.index.count : g.attributes.position.count) / 3;
        for (const a of Object.values(g.attributes)) bytes += a.array.byteLength;
        if (g.index) bytes += g.index.array.byteLength;
      });
      return { triangles: Math.round(triangles), bytes };
    },
    /** Screen position (CSS px, relative to the canvas) of an LPS point. */
    project(p) {
      const v = toScene(p).project(camera);
      const r = canvas.getBoundingClientRect();
      return { x: r.left + (v.x + 1) / 2 * r.width, y: r.top + (1 - v.y) / 2 * r.height };
    },
    /** What a pointer at (x, y) CSS px hits: [{name, point (LPS mm)}], nearest first. */
    pick(x, y) {
      const r = canvas.getBoundingClientRect();
      const ndc = new THREE.Vector2((x - r.left) / r.width * 2 - 1, -((y - r.top) / r.height) * 2 + 1);
      const ray = new THREE.Raycaster();
      ray.setFromCamera(ndc, camera);
      const visible = [...view.meshes.values()].filter((m) => m.visible);
      return ray.intersectObjects(visible, false).map((h) => ({ name: h.object.name, point: toLps(h.point) }));
    },
    dispose() {
      alive = false;
      controls.dispose();
      root && root.traverse((o) => { if (o.isMesh) { o.geometry.dispose(); o.material.dispose(); } });
      renderer.dispose();
    },
  };
  return view;
}

/** Toggles and transparency per structure. */
function structures(panel, view) {
  panel.append(el("h3", {}, "Structures"));
  const groups = new Map();
  for (const [name, m] of view.meshes) {
    const g = SEGMENT.test(name) ? "segments" : name;
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(m);
  }
  for (const [g, ms] of groups) {
    const c = ms[0].userData.color;
    const box = el("input", { type: "checkbox", checked: "", "data-structure": g });
    box.addEventListener("change", () => { ms.forEach((m) => { m.visible = box.checked; }); view.dirty = true; });
    const alpha = el("input", { type: "range", min: "0.05", max: "1", step: "0.05", value: String(ms[0].material.opacity), "aria-label": g + " opacity" });
    alpha.addEventListener("input", () => ms.forEach((m) => {
      m.material.opacity = Number(alpha.value);
      m.material.transparent = m.material.opacity < 1;
      m.material.depthWrite = !m.material.transparent;
      m.userData.opacity = m.material.opacity;
      view.dirty = true;
    }));
    const sw = el("span", { class: "swatch" });
    sw.style.background = "#" + c.getHexString();
    panel.append(el("div", { class: "row" }, el("label", {}, box, sw, g), alpha));
  }
}

/** The lung case: the plan panel, tap to resect, hover names, the ENB route. */
async function lung(ctx, view, id) {
  const { api, panel } = ctx;
  const base = await api("GET", `/api/cases/${id}/files/report.json`);
  const bronchi = base.bronchi || [];
  // The halo in yellow, as surgeons expect it.
  // (glTF loaders make node names safe for paths: "margin halo" arrives as "margin_halo".)
  const halo = view.meshes.get("margin_halo") || view.meshes.get("margin halo");
  if (halo) { halo.material.color.set(0xffee00); halo.material.opacity = 0.25; halo.userData.color = halo.material.color.clone(); }
  const nearestBronchus = (p) => {
    let best = null, bd = Infinity;
    for (const b of bronchi) {
      const d = toSegment(p, b.start_mm, b.end_mm);
      if (d < bd) { bd = d; best = b; }
    }
    return best;
  };
  window.ctplanViewer.bronchi = bronchi;
  window.ctplanViewer.nearestBronchus = nearestBronchus;

  const state = { targets: [], fev1: null, k: 2 };
  const plan = el("div", { id: "plan" });
  const fev1 = el("input", { type: "number", id: "fev1", min: "0.1", max: "10", step: "0.1", placeholder: "L" });
  const k = el("input", { type: "number", id: "margin-k", min: "0", max: "10", step: "0.5", value: "2" });
  const pick = el("select", { id: "target-select" }, el("option", { value: "" }, "— resect a bronchus —"),
    ...bronchi.filter((b) => b.name && !b.name.startsWith("#")).map((b) => el("option", { value: b.name }, b.name)));
  panel.append(el("h3", {}, "Resection"),
    el("p", { class: "note" }, "Tap a bronchus or a segment to resect it; tap again elsewhere to add."),
    el("div", {}, pick, el("button", { id: "clear", onclick: () => { state.targets = []; run(); } }, "Clear")),
    el("div", {}, el("label", {}, "FEV1 ", fev1, " L"), el("label", {}, "margin ", k, " × diameter")),
    plan);
  pick.addEventListener("change", () => { if (pick.value) { state.targets.push(pick.value); run(); } });
  fev1.addEventListener("change", () => { state.fev1 = fev1.value ? Number(fev1.value) : null; run(); });
  k.addEventListener("change", () => { state.k = Number(k.value); run(); });

  const routeLine = () => {
    const nod = (base.nodules || [])[0];
    if (!nod || !nod.route) return;
    const byName = new Map(bronchi.map((b) => [b.name, b]));
    const pts = [];
    for (const n of nod.route.bronchi) {
      const b = byName.get(n);
      if (b) { if (!pts.length) pts.push(toScene(b.start_mm)); pts.push(toScene(b.end_mm)); }
    }
    pts.push(toScene(nod.route.exit_mm), toScene(nod.centroid_mm));
    const line = new THREE.Line(new THREE.BufferGeometry().setFromPoints(pts),
      new THREE.LineBasicMaterial({ color: 0x00e5ff, depthTest: false }));
    line.renderOrder = 10;
    line.name = "ENB route";
    view.extra.add(line);
    panel.append(el("h3", {}, "Bronchoscopic route"),
      el("p", { id: "route" }, `${nod.route.bronchi.join(" → ")}; ${nod.route.length_mm} mm, then ${nod.route.exit_to_lesion_mm} mm to the lesion`));
  };
  routeLine();
  // The server reads and analyses the model on the first plan of a case: asked now, while
  // the user looks, so that the first tap is answered at once.
  api("POST", `/api/cases/${id}/resect`, JSON.stringify({ targets: [] }), "application/json").catch(() => {});
  const slices = slicePanel(ctx, view, id);
  await lesions(ctx, id);

  let seq = 0;
  async function run() {
    const mine = ++seq;
    plan.textContent = state.targets.length ? "planning…" : "";
    const body = { targets: state.targets, margin_k: state.k };
    if (state.fev1) body.fev1 = state.fev1;
    let r;
    try {
      r = await api("POST", `/api/cases/${id}/resect`, JSON.stringify(body), "application/json");
    } catch (e) { plan.textContent = e.message; state.targets.pop(); return; }
    if (mine !== seq) return;
    show(r);
  }
  function show(r) {
    const res = r.resection;
    const cut = new Set(res ? res.segments : []);
    for (const [name, m] of view.meshes) {
      if (!SEGMENT.test(name)) continue;
      if (!res) { m.material.color.copy(m.userData.color); m.material.opacity = m.userData.opacity; }
      else if (cut.has(name)) { m.material.color.set(0xff5533); m.material.opacity = 0.85; }
      else { m.material.color.set(0x8899aa); m.material.opacity = 0.12; }
      m.material.transparent = m.material.opacity < 1;
      m.material.depthWrite = !m.material.transparent;
    }
    view.dirty = true;
    plan.replaceChildren();
    if (!res) return;
    const row = (a, b, idAttr) => el("div", { class: "row" }, el("span", {}, a), el("b", { id: idAttr }, b));
    plan.append(
      row("Resect", res.targets.join(" + "), "resect-targets"),
      row("Segments", res.segments.join(", "), "resect-segments"),
      row("Resected", `${res.volume_ml.toFixed(0)} mL`, "resected-ml"),
      row("Remaining", `${res.remaining_ml.toFixed(0)} mL`, "remaining-ml"));
    if (res.ppo_fev1_volume != null) plan.append(row("ppoFEV1", `${res.ppo_fev1_volume.toFixed(2)} L (by volume), ${res.ppo_fev1_count.toFixed(2)} L (by segments)`, "ppo"));
    if (res.margin_ok != null) {
      plan.append(el("div", { class: "row" }, el("span", {}, "Margin"),
        el("b", { id: "margin", class: res.margin_ok ? "ok" : "bad" },
          `${res.margin_mm.toFixed(1)} mm of ${res.margin_required_mm.toFixed(1)} mm: ${res.margin_ok ? "enough" : "too short"}`)));
    }
    for (const opt of res.extend_with || []) {
      const names = Array.isArray(opt) ? opt : opt.segments || opt.targets || [String(opt)];
      plan.append(el("button", { class: "extend", onclick: () => { state.targets.push(...names); run(); } }, "Extend with " + names.join(" + ")));
    }
    if (res.crossings) plan.append(row("Vessels to divide or spare", String(res.crossings.length), "crossings"));
    if (res.stain_bronchi && res.stain_bronchi.length) plan.append(row("Dye marking via", res.stain_bronchi.join(", "), "stain"));
    plan.append(el("p", { class: "note", id: "plan-ms" }, `planned in ${r.ms} ms on the server`));
    window.ctplanViewer.lastPlan = r;
    crossings(res.crossings || []);
    drawPlane();
  }

  // The vessels crossing the plane: a small sphere each, blue artery, red vein, purple other.
  const marks = new THREE.Group();
  view.extra.add(marks);
  function crossings(list) {
    marks.clear();
    const colour = { artery: 0x3355ff, vein: 0xff3333 };
    for (const c of list) {
      const m = new THREE.Mesh(new THREE.SphereGeometry(0.002, 10, 8),
        new THREE.MeshBasicMaterial({ color: colour[c.kind] || 0xcc44cc, depthTest: false }));
      m.position.copy(toScene(c.position_mm));
      m.renderOrder = 12;
      marks.add(m);
    }
    view.dirty = true;
  }

  // The intersegmental plane of the resection, asked for after the plan (meshing it takes
  // longer than planning); a newer resection's plane replaces an older one's.
  let planeSeq = 0;
  let planeMesh = null;
  async function drawPlane() {
    const mine = ++planeSeq;
    const body = { targets: state.targets, margin_k: state.k };
    try {
      const r = await api("POST", `/api/cases/${id}/plane`, JSON.stringify(body), "application/json", true);
      const loader = new GLTFLoader();
      loader.setMeshoptDecoder(MeshoptDecoder);
      const g = (await loader.parseAsync(await r.arrayBuffer(), "")).scene;
      if (mine !== planeSeq) return;
      if (planeMesh) view.extra.remove(planeMesh);
      g.traverse((o) => { if (o.isMesh) { o.material.side = THREE.DoubleSide; o.material.depthWrite = false; o.renderOrder = 4; } });
      planeMesh = g;
      planeMesh.name = "intersegmental plane";
      view.extra.add(g);
      window.ctplanViewer.planeShown = state.targets.length;
      view.dirty = true;
    } catch (e) { /* the plan itself is shown; the plane is a picture of it */ }
  }

  // A tap (a pointer that did not move): the airway if the ray meets it (a bronchus behind a
  // transparent segment is what the user aims at), else the nearest segment.
  let down = null;
  const canvas = ctx.canvas;
  canvas.addEventListener("pointerdown", (e) => { down = { x: e.clientX, y: e.clientY }; });
  canvas.addEventListener("pointerup", (e) => {
    if (!down || Math.hypot(e.clientX - down.x, e.clientY - down.y) > 6) return;
    const hits = view.pick(e.clientX, e.clientY);
    if (hits.length) slices.moveTo(hits[0].point);
    const air = hits.find((h) => h.name === "airway");
    const seg = hits.find((h) => SEGMENT.test(h.name));
    if (air) {
      const b = nearestBronchus(air.point);
      state.targets.push(b && b.name && !b.name.startsWith("#") ? b.name : air.point);
    } else if (seg) state.targets.push(seg.name);
    else return;
    run();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (e.pointerType !== "mouse" || e.buttons) return;
    const air = view.pick(e.clientX, e.clientY).find((h) => h.name === "airway");
    const b = air && nearestBronchus(air.point);
    const tip = ctx.hover;
    if (!b) { tip.classList.add("hidden"); return; }
    const r = canvas.getBoundingClientRect();
    tip.textContent = b.name;
    tip.style.left = (e.clientX - r.left + 12) + "px";
    tip.style.top = (e.clientY - r.top + 12) + "px";
    tip.classList.remove("hidden");
  });
}

/** The 2-D slice view: the CT with the model's labels over it, through the 3-D cursor (a
 * tap on the model moves it there; a tap on the slice moves the cursor, drawn in 3-D as a
 * small cross). */
function slicePanel(ctx, view, id) {
  const { api, panel } = ctx;
  const names = ["sagittal", "coronal", "axial"];
  const axisSel = el("select", { id: "slice-axis" }, ...names.map((n, i) => el("option", { value: String(i) }, n)));
  axisSel.value = "2";
  const range = el("input", { type: "range", id: "slice-index", min: "0", max: "0", value: "0" });
  const canvas = el("canvas", { id: "slice" });
  const mark = el("button", { id: "lesion-at-cursor" }, "Lesion at the cursor");
  panel.append(el("h3", {}, "Slices"), el("div", {}, axisSel, range, " ", mark), canvas);
  mark.addEventListener("click", () => {
    if (grid) document.dispatchEvent(new CustomEvent("ctplan-lesion", { detail: toWorld(cursor) }));
  });
  let grid = null;
  const cursor = [0, 0, 0];
  const marker = new THREE.Group();
  const mat = new THREE.LineBasicMaterial({ color: 0x00ff66, depthTest: false });
  for (const d of [[1, 0, 0], [0, 1, 0], [0, 0, 1]]) {
    const g = new THREE.BufferGeometry().setFromPoints([new THREE.Vector3(...d).multiplyScalar(-0.012), new THREE.Vector3(...d).multiplyScalar(0.012)]);
    marker.add(new THREE.Line(g, mat));
  }
  marker.renderOrder = 11;
  marker.visible = false;
  view.extra.add(marker);
  // index ↔ LPS by the grid's origin, direction (columns: the axes) and spacing.
  const toWorld = (ix) => [0, 1, 2].map((r) => grid.origin[r] + [0, 1, 2].reduce((s, c) => s + grid.direction[r][c] * grid.spacing[c] * ix[c], 0));
  const toIndex = (p) => [0, 1, 2].map((c) => Math.round([0, 1, 2].reduce((s, r) => s + grid.direction[r][c] * (p[r] - grid.origin[r]), 0) / grid.spacing[c]));
  let seq = 0;
  async function draw() {
    const axis = Number(axisSel.value);
    const index = grid ? cursor[axis] : Number(range.value);
    const mine = ++seq;
    const resp = await api("GET", `/api/cases/${id}/slice?axis=${axis}&index=${index}`, undefined, undefined, true);
    if (mine !== seq) return;
    if (!grid) {
      grid = JSON.parse(resp.headers.get("X-Ctplan-Grid"));
      for (let a = 0; a < 3; a++) cursor[a] = Math.floor(grid.dims[a] / 2);
    }
    const bitmap = await createImageBitmap(await resp.blob());
    range.max = String(grid.dims[axis] - 1);
    range.value = String(cursor[axis]);
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const [u, v] = axis === 0 ? [1, 2] : axis === 1 ? [0, 2] : [0, 1];
    canvas.style.aspectRatio = `${bitmap.width * grid.spacing[u]} / ${bitmap.height * grid.spacing[v]}`;
    const g2 = canvas.getContext("2d");
    g2.drawImage(bitmap, 0, 0);
    // The cursor's cross on the slice.
    const cx = cursor[u] + 0.5, cy = axis === 2 ? cursor[1] + 0.5 : grid.dims[2] - cursor[2] - 0.5;
    g2.strokeStyle = "#00ff66";
    g2.lineWidth = Math.max(1, bitmap.width / 256);
    g2.beginPath();
    g2.moveTo(cx, 0); g2.lineTo(cx, bitmap.height); g2.moveTo(0, cy); g2.lineTo(bitmap.width, cy);
    g2.stroke();
    marker.position.copy(toScene(toWorld(cursor)));
    marker.visible = true;
    view.dirty = true;
    window.ctplanViewer.slice = { axis, index: cursor[axis], cursor: [...cursor] };
  }
  axisSel.addEventListener("change", () => draw().catch((e) => ctx.say(e.message)));
  range.addEventListener("input", () => { if (grid) { cursor[Number(axisSel.value)] = Number(range.value); } draw().catch((e) => ctx.say(e.message)); });
  canvas.addEventListener("click", (e) => {
    if (!grid) return;
    const r = canvas.getBoundingClientRect();
    const c = Math.floor((e.clientX - r.left) / r.width * canvas.width);
    const row = Math.floor((e.clientY - r.top) / r.height * canvas.height);
    const axis = Number(axisSel.value);
    if (axis === 0) { cursor[1] = c; cursor[2] = grid.dims[2] - 1 - row; }
    else if (axis === 1) { cursor[0] = c; cursor[2] = grid.dims[2] - 1 - row; }
    else { cursor[0] = c; cursor[1] = row; }
    draw().catch((err) => ctx.say(err.message));
  });
  draw().catch((e) => ctx.say(e.message));
  return {
    moveTo(p) {
      if (!grid) return;
      const ix = toIndex(p);
      for (let a = 0; a < 3; a++) cursor[a] = Math.max(0, Math.min(grid.dims[a] - 1, ix[a]));
      draw().catch((e) => ctx.say(e.message));
    },
  };
}

/** The lesions of the model and the candidates found, each one tap from being the plan's
 * nodule (the model is built again with it: its margin halo, the margin verdict and the
 * bronchoscopic route follow). */
async function lesions(ctx, id) {
  const { api, panel } = ctx;
  const model = await api("GET", `/api/cases/${id}/files/model.json`);
  const box = el("div", { id: "lesions" });
  panel.append(el("h3", {}, "Lesions"), box);
  const fmt = (l) => `${l.lobe || l.side}, ${l.diameter_mm.toFixed(1)} mm, ${l.volume_ml.toFixed(2)} mL, ${Math.round(l.mean_hu)} HU`;
  for (const l of model.lesions || []) box.append(el("p", { class: "lesion" }, "Nodule: " + fmt(l)));
  const rebuild = async (points, why) => {
    box.textContent = why;
    try {
      const job = await api("POST", `/api/cases/${id}/jobs`, JSON.stringify({ nodules: points }), "application/json");
      await follow(job.id, (j) => { box.textContent = `${why} ${Math.round((j.progress || 0) * 100)} %${j.stage ? ": " + j.stage : ""}`; });
      const detail = await api("GET", `/api/cases/${id}`);
      await openCase({ ...ctx, detail });
    } catch (e) { box.textContent = e.message; }
  };
  // A lesion the user marked on the slices (the cursor's point), as a candidate is confirmed.
  if (onMark) document.removeEventListener("ctplan-lesion", onMark);
  onMark = (e) => rebuild([e.detail.map((v) => Math.round(v * 100) / 100)], "rebuilding the model with a lesion at the cursor…");
  document.addEventListener("ctplan-lesion", onMark);
  for (const c of model.candidates || []) {
    box.append(el("div", { class: "row candidate" }, el("span", {}, "Candidate: " + fmt(c)),
      el("button", { class: "use-candidate", onclick: () => rebuild([c.centre_mm], "rebuilding the model with this nodule…") }, "Use as nodule")));
  }
  if (!box.childElementCount) box.append(el("p", { class: "note" }, "No lesion found."));
}

/** The cranial case: the implant's thickness, downloads for printing and the clinician's
 * review. */
async function cranial(ctx, view, id, files) {
  const { api, panel } = ctx;
  const design = await api("GET", `/api/cases/${id}/files/design.json`);
  panel.append(el("h3", {}, "Implant"));
  const m = design.mesh || {};
  panel.append(el("p", { id: "implant-summary" },
    `${(design.design && design.design.implant_ml != null ? design.design.implant_ml : m.volume_ml || 0).toFixed(1)} mL; mesh ${m.watertight ? "watertight" : "NOT watertight"}, ${m.faces} triangles`));
  // The thickness map: the implant cut into bands of thickness, coloured thin to thick.
  const bands = (design.thickness && design.thickness.bands) || [];
  if (files.includes("thickness.glb") && bands.length) {
    const show = el("input", { type: "checkbox", id: "thickness-toggle" });
    const legend = el("div", { id: "thickness-legend" }, ...bands.map((b) => {
      const sw = el("span", { class: "swatch" });
      sw.style.background = `rgb(${b.color.slice(0, 3).map((c) => Math.round(255 * Math.pow(c, 1 / 2.2))).join(",")})`;
      return el("div", {}, sw, `${b.from_mm}–${b.to_mm} mm`);
    }));
    let group = null;
    show.addEventListener("change", async () => {
      try {
        if (!group) {
          const r = await api("GET", `/api/cases/${id}/files/thickness.glb`, undefined, undefined, true);
          const loader = new GLTFLoader();
          loader.setMeshoptDecoder(MeshoptDecoder);
          group = (await loader.parseAsync(await r.arrayBuffer(), "")).scene;
          group.traverse((o) => { if (o.isMesh) o.material.side = THREE.DoubleSide; });
          view.extra.add(group);
        }
        group.visible = show.checked;
        const implant = view.meshes.get("implant");
        if (implant) implant.visible = !show.checked;
        view.dirty = true;
      } catch (e) { ctx.say(e.message); }
    });
    panel.append(el("label", {}, show, " thickness map"), legend);
    if (design.thickness) panel.append(el("p", { class: "note" }, `thickness ${design.thickness.p5_mm.toFixed(1)}–${design.thickness.p95_mm.toFixed(1)} mm (5th–95th percentile), median ${design.thickness.median_mm.toFixed(1)} mm`));
  }
  for (const f of files.filter((f) => /\.(stl|ply)$/.test(f))) {
    panel.append(el("div", {}, el("a", { href: `/api/cases/${id}/files/${f}`, download: f, class: "download" }, "Download " + f)));
  }
  const score = el("select", { id: "review-score" }, ...[5, 4, 3, 2, 1].map((s) => el("option", { value: String(s) }, String(s))));
  const comment = el("textarea", { id: "review-comment", rows: "2", maxlength: "2000" });
  const list = el("div", { id: "reviews" });
  const load = async () => {
    try {
      const rs = await api("GET", `/api/cases/${id}/reviews`);
      list.replaceChildren(...(rs.reviews || rs).map((r) => el("p", {}, `${r.score}/5 ${r.user || r.user_name || ""}: ${r.comment || ""}`)));
    } catch (e) { list.textContent = e.message; }
  };
  panel.append(el("h3", {}, "Clinician review"),
    el("div", {}, el("label", {}, "Score ", score), comment,
      el("button", { id: "review-send", onclick: async () => {
        try {
          await api("POST", `/api/cases/${id}/reviews`, JSON.stringify({ score: Number(score.value), comment: comment.value }), "application/json");
          comment.value = "";
          await load();
        } catch (e) { ctx.say(e.message); }
      } }, "Send")), list);
  load();
}
