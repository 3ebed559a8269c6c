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

/** Open a case in the viewer. */
export async function openCase(ctx) {
  if (current) current.dispose();
  const { api, detail } = ctx;
  const id = encodeURIComponent(detail.case.id);
  const t0 = performance.now();
  const view = makeView(ctx.canvas);
  current = view;
  const files = detail.files || [];
  const sceneFile = detail.case.kind === "cranio" ? "implant.glb" : "scene.glb";
  const resp = await api("GET", `/api/cases/${id}/files/${sceneFile}`, undefined, undefined, true);
  const gltf = await view.load(await resp.arrayBuffer());
  view.frame();
  const info = view.info();
  window.ctplanViewer = view; // for the browser tests and the console
  view.openedMs = performance.now() - t0;
  view.memory = info;
  ctx.panel.replaceChildren();
  ctx.panel.append(el("h3", {}, detail.case.name));
  ctx.panel.append(el("p", { class: "note", id: "scene-info" },
    `${info.triangles.toLocaleString()} triangles, ~${(info.bytes / 1048576).toFixed(1)} MB of GPU buffers; opened in ${(view.openedMs / 1000).toFixed(2)} s`));
  structures(ctx.panel, view, gltf);
  if (detail.case.kind === "cranio") cranial(ctx, view, id, files);
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
    }
  };
  const loop = () => {
    if (!alive) return;
    resize();
    controls.update();
    renderer.render(scene, camera);
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
  const view = {
    scene, camera, renderer, controls, extra,
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
    frame() {
      const box = new THREE.Box3().setFromObject(root);
      const c = box.getCenter(new THREE.Vector3());
      const r = box.getSize(new THREE.Vector3()).length() / 2 || 0.1;
      // Seen from the front (anterior, +z), head up.
      camera.position.set(c.x, c.y, c.z + r * 2.6);
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
    box.addEventListener("change", () => ms.forEach((m) => { m.visible = box.checked; }));
    const alpha = el("input", { type: "range", min: "0.05", max: "1", step: "0.05", value: String(ms[0].material.opacity), "aria-label": g + " opacity" });
    alpha.addEventListener("input", () => ms.forEach((m) => {
      m.material.opacity = Number(alpha.value);
      m.material.transparent = m.material.opacity < 1;
      m.material.depthWrite = !m.material.transparent;
      m.userData.opacity = m.material.opacity;
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
  const halo = view.meshes.get("margin halo");
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
  }

  // A tap (a pointer that did not move): the airway if the ray meets it (a bronchus behind a
  // transparent segment is what the user aims at), else the nearest segment.
  let down = null;
  const canvas = ctx.canvas;
  canvas.addEventListener("pointerdown", (e) => { down = { x: e.clientX, y: e.clientY }; });
  canvas.addEventListener("pointerup", (e) => {
    if (!down || Math.hypot(e.clientX - down.x, e.clientY - down.y) > 6) return;
    const hits = view.pick(e.clientX, e.clientY);
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

/** The cranial case: downloads for printing and the clinician's review. */
function cranial(ctx, view, id, files) {
  const { api, panel } = ctx;
  panel.append(el("h3", {}, "Implant"));
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
