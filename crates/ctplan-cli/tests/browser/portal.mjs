// The portal in a real browser (Debian's Chromium, headless, driven by playwright-core):
// a surgeon logs in, uploads a chest CT as a zip, watches the job finish, opens the viewer,
// taps a bronchus and sees the resected volume; the same on a 390×844 phone viewport.
// Run by crates/ctplan-cli/tests/browser_e2e.rs, which starts `ctplan serve` and passes:
//   node portal.mjs URL ADMIN_NAME ADMIN_PASSWORD CT_ZIP SKULL SHOTS_DIR
// (SKULL: a defective skull mask; its implant is designed, reviewed, and its STL downloaded
// to SHOTS_DIR/implant.stl for the caller to check.)
// Prints one JSON line of measurements ("measured: {...}") and exits non-zero on any failure.
import { chromium } from "playwright-core";

const [url, adminName, adminPassword, zip, skull, shots] = process.argv.slice(2);
const measured = {};
const fail = (msg) => { throw new Error(msg); };

// Accounts through the API, as an administrator would make them.
async function setup() {
  const login = await fetch(url + "/api/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: adminName, password: adminPassword }),
  });
  if (!login.ok) fail("admin login: " + login.status);
  const cookie = login.headers.get("set-cookie").split(";")[0];
  const { csrf } = await login.json();
  const post = async (path, body) => {
    const r = await fetch(url + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Cookie: cookie },
      body: JSON.stringify(body),
    });
    if (!r.ok) fail(path + ": " + r.status + " " + await r.text());
    return r.json();
  };
  const team = await post("/api/teams", { name: "thoracic" });
  await post("/api/users", { name: "surgeon", password: "surgeon password 1", role: "surgeon" });
  await post(`/api/teams/${team.id}/members`, { user: "surgeon" });
}

async function logIn(page) {
  await page.goto(url);
  await page.fill("#name", "surgeon");
  await page.fill("#password", "surgeon password 1");
  await page.click("#login-form button");
  await page.waitForSelector("#app:not(.hidden)");
}

// Open the case and wait for the scene; the time from the click to a drawn scene.
async function open(page, name, ready = "#plan") {
  const t0 = Date.now();
  await page.click(`tr[data-name="${name}"] button.open`);
  await page.waitForSelector(ready, { state: "attached", timeout: 60000 });
  await page.waitForFunction(() => window.ctplanViewer && window.ctplanViewer.memory);
  return Date.now() - t0;
}

// Tap the middle of a bronchus: its centreline's midpoint on the screen, which the ray meets
// in the airway mesh. The tapped bronchus is whichever the viewer resolves the hit to.
async function tapBronchus(page, names, touch) {
  for (const want of names) {
    const at = await page.evaluate((n) => {
      const v = window.ctplanViewer;
      const b = v.bronchi.find((x) => x.name === n);
      if (!b) return null;
      const mid = [0, 1, 2].map((i) => (b.start_mm[i] + b.end_mm[i]) / 2);
      const p = v.project(mid);
      const hit = v.pick(p.x, p.y).find((h) => h.name === "airway");
      return hit ? p : null;
    }, want);
    if (!at) continue;
    const before = await page.evaluate(() => window.ctplanViewer.lastPlan);
    if (touch) await page.touchscreen.tap(at.x, at.y); else await page.mouse.click(at.x, at.y);
    await page.waitForFunction((b) => window.ctplanViewer.lastPlan && window.ctplanViewer.lastPlan !== b, before, { timeout: 30000 });
    return want;
  }
  fail("no bronchus of " + names.join(",") + " is visible to tap");
}

const launch = () => chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless=new", "--no-sandbox", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"],
});

let current = null; // the page in use, for the picture of a failure

async function main() {
  await setup();
  const browser = await launch();
  try {
    // Desktop.
    const desk = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await desk.newPage();
    current = page;
    page.on("pageerror", (e) => { measured.page_errors = (measured.page_errors || 0) + 1; console.error("page error:", e.message); });
    await page.goto(url);
    await page.waitForSelector("#login:not(.hidden)");
    await page.screenshot({ path: `${shots}/login.png` });
    await logIn(page);
    await page.fill("#case-name", "chest 2mm");
    await page.setInputFiles("#file", zip);
    const t0 = Date.now();
    await page.click("#upload-form button");
    await page.waitForSelector('tr[data-name="chest 2mm"]', { timeout: 120000 });
    measured.upload_s = (Date.now() - t0) / 1000;
    await page.waitForSelector('tr[data-name="chest 2mm"][data-state="running"], tr[data-name="chest 2mm"][data-state="done"]', { timeout: 120000 });
    await page.screenshot({ path: `${shots}/job-running.png` });
    await page.waitForSelector('tr[data-name="chest 2mm"][data-state="done"]', { timeout: 600000 });
    measured.upload_to_done_s = (Date.now() - t0) / 1000;
    await page.screenshot({ path: `${shots}/cases.png` });
    measured.desktop_open_ms = await open(page, "chest 2mm");
    await page.waitForTimeout(500);
    await page.screenshot({ path: `${shots}/lung-viewer.png` });
    const first = await tapBronchus(page, ["RB1", "RB2", "RB3", "RB6", "LB6", "LB3", "RUL", "RLL"], false);
    const a = await page.textContent("#resected-ml");
    if (!/\d+ mL/.test(a)) fail("no resected volume after tapping " + first + ": " + a);
    measured.first_tap = first;
    measured.first_resected = a;
    measured.first_plan_ms = await page.evaluate(() => window.ctplanViewer.lastPlan.ms);
    // A second target: the resection grows, and the volumes with it.
    await page.selectOption("#target-select", "RB6").catch(() => page.selectOption("#target-select", { index: 5 }));
    await page.waitForFunction((x) => document.querySelector("#resected-ml") && document.querySelector("#resected-ml").textContent !== x, a, { timeout: 30000 });
    const b = await page.textContent("#resected-ml");
    if (parseFloat(b) <= parseFloat(a)) fail(`adding a target did not grow the resection: ${a} → ${b}`);
    measured.second_resected = b;
    measured.second_plan_ms = await page.evaluate(() => window.ctplanViewer.lastPlan.ms);
    measured.scene = await page.evaluate(() => window.ctplanViewer.memory);
    await page.waitForFunction(() => window.ctplanViewer.slice, null, { timeout: 30000 });
    // The intersegmental plane of RB1 + RB6 drawn.
    await page.waitForFunction(() => window.ctplanViewer.planeShown === 2, null, { timeout: 60000 });
    measured.plane_drawn = true;
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${shots}/lung-resection.png` });
    // The candidate lesion confirmed as the nodule: the model is built again with it, and the
    // plan gains its margin verdict, halo and bronchoscopic route.
    await page.click("button.use-candidate");
    await page.waitForSelector("#lesions .lesion", { timeout: 600000 });
    await page.waitForFunction(() => window.ctplanViewer && window.ctplanViewer.bronchi);
    measured.route = await page.textContent("#route");
    await page.selectOption("#target-select", "RB1");
    await page.waitForSelector("#margin", { timeout: 30000 });
    measured.margin = await page.textContent("#margin");
    measured.margin_plan_ms = await page.evaluate(() => window.ctplanViewer.lastPlan.ms);
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${shots}/lung-nodule.png` });

    // A cranial case: the defective skull uploaded, the implant designed, its thickness map
    // shown, a review sent, the STL downloaded.
    await page.click("#close-viewer");
    await page.selectOption("#kind", "cranio");
    await page.fill("#case-name", "skull");
    await page.setInputFiles("#file", skull);
    const t1 = Date.now();
    await page.click("#upload-form button");
    await page.waitForSelector('tr[data-name="skull"][data-state="done"]', { timeout: 600000 });
    measured.skull_upload_to_done_s = (Date.now() - t1) / 1000;
    measured.skull_open_ms = await open(page, "skull", "#implant-summary");
    measured.implant = await page.textContent("#implant-summary");
    await page.check("#thickness-toggle");
    await page.selectOption("#review-score", "4");
    await page.fill("#review-comment", "good fit at the rim");
    await page.click("#review-send");
    await page.waitForFunction(() => /4\/5/.test(document.querySelector("#reviews").textContent), null, { timeout: 30000 });
    await page.waitForTimeout(300);
    await page.screenshot({ path: `${shots}/cranial.png` });
    const [download] = await Promise.all([page.waitForEvent("download"), page.click('a.download[download="implant.stl"]')]);
    await download.saveAs(`${shots}/implant.stl`);
    await desk.close();

    // Phone.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const p2 = await phone.newPage();
    current = p2;
    await logIn(p2);
    await p2.screenshot({ path: `${shots}/phone-cases.png` });
    measured.phone_open_ms = await open(p2, "chest 2mm");
    await p2.waitForTimeout(500);
    await p2.screenshot({ path: `${shots}/phone-viewer.png` });
    const tapped = await tapBronchus(p2, ["RB1", "RB2", "RB3", "RB6", "LB6", "LB3"], true);
    const c = await p2.textContent("#resected-ml");
    if (!/\d+ mL/.test(c)) fail("phone: no resected volume after tapping " + tapped);
    measured.phone_tap = tapped;
    measured.phone_resected = c;
    await p2.screenshot({ path: `${shots}/phone-resection.png`, fullPage: true });
    await phone.close();
  } catch (e) {
    if (current) {
      await current.screenshot({ path: `${shots}/failure.png` }).catch(() => {});
      measured.message_on_page = await current.textContent("#message").catch(() => null);
    }
    throw e;
  } finally {
    await browser.close();
  }
  console.log("measured: " + JSON.stringify(measured));
}

main().catch((e) => { console.error("FAILED: " + e.message); console.log("measured: " + JSON.stringify(measured)); process.exit(1); });
