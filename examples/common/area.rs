//! The capture area: four corners picked on the picture (top-left, then
//! clockwise), kept in a small JSON file, and the perspective matrix that
//! maps that quadrilateral onto the whole output picture.
//!
//! ```json
//! {"width":640,"height":360,"points":[[12,8],[630,20],[610,350],[5,340]]}
//! ```
//!
//! `width` and `height` are the size of the picture the points were picked
//! on; the points are in its pixel coordinates (x to the right, y down).
//!
//! Pure code, no GStreamer: used by the `area_picker` and `sender` examples
//! (`#[path = "common/area.rs"] mod area;`) and by `tests/area_picker.rs`.
#![allow(dead_code)] // each user needs a different part

use std::fmt;

/// A point in pixels, x to the right, y down.
pub type Point = [f64; 2];

/// A capture area as saved by the picker.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// Size of the picture the points refer to.
    pub width: u32,
    pub height: u32,
    /// Top-left, top-right, bottom-right, bottom-left.
    pub points: [Point; 4],
}

/// Why an area file or a set of corners is not usable.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaError(pub String);

impl fmt::Display for AreaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AreaError {}

fn err<T>(msg: impl Into<String>) -> Result<T, AreaError> {
    Err(AreaError(msg.into()))
}

impl Area {
    /// Checks the size, that every point lies on the picture, and that the
    /// corners go clockwise from the top-left around a convex shape.
    pub fn new(width: u32, height: u32, points: [Point; 4]) -> Result<Self, AreaError> {
        if width == 0 || height == 0 {
            return err(format!("the picture size {width}x{height} is empty"));
        }
        for (i, p) in points.iter().enumerate() {
            let inside = p.iter().all(|c| c.is_finite())
                && (0.0..=f64::from(width)).contains(&p[0])
                && (0.0..=f64::from(height)).contains(&p[1]);
            if !inside {
                return err(format!(
                    "corner {} ({}, {}) is outside the {width}x{height} picture",
                    i + 1,
                    p[0],
                    p[1]
                ));
            }
        }
        if !is_convex_clockwise(&points) {
            return err(
                "the four corners must be given top-left, top-right, bottom-right, \
                 bottom-left (clockwise) and enclose a convex area",
            );
        }
        Ok(Area {
            width,
            height,
            points,
        })
    }

    /// Whether the area is an axis-aligned rectangle (to within `tolerance`
    /// pixels).
    pub fn is_rectangle(&self, tolerance: f64) -> bool {
        let [tl, tr, br, bl] = self.points;
        let close = |a: f64, b: f64| (a - b).abs() <= tolerance;
        close(tl[1], tr[1]) && close(bl[1], br[1]) && close(tl[0], bl[0]) && close(tr[0], br[0])
    }

    /// The corners in a picture of `width` x `height` showing the same
    /// scene (scaled from the picture they were picked on).
    pub fn scaled_to(&self, width: u32, height: u32) -> [Point; 4] {
        let sx = f64::from(width) / f64::from(self.width);
        let sy = f64::from(height) / f64::from(self.height);
        self.points.map(|[x, y]| [x * sx, y * sy])
    }

    /// The 3x3 matrix, row-major, that maps a point of the `width` x
    /// `height` output picture to the point of the input picture (of the
    /// same size) that it shows: the output corners (0,0), (W,0), (W,H),
    /// (0,H) go to the four corners of the area. This is the direction the
    /// `perspective` element expects (output to input).
    pub fn output_to_input(&self, width: u32, height: u32) -> Result<[f64; 9], AreaError> {
        let (w, h) = (f64::from(width), f64::from(height));
        let rect = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
        homography(&rect, &self.scaled_to(width, height))
            .ok_or_else(|| AreaError("the four corners do not span an area".into()))
    }

    /// The JSON text of the area file (one line, with a newline).
    pub fn to_json(&self) -> String {
        let points: Vec<String> = self
            .points
            .iter()
            .map(|[x, y]| format!("[{},{}]", number(*x), number(*y)))
            .collect();
        format!(
            "{{\"width\":{},\"height\":{},\"points\":[{}]}}\n",
            self.width,
            self.height,
            points.join(",")
        )
    }

    /// Reads an area from its JSON text.
    pub fn from_json(text: &str) -> Result<Self, AreaError> {
        let value = Json::parse(text)?;
        let Json::Object(fields) = &value else {
            return err("expected a JSON object with width, height and points");
        };
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
                .ok_or_else(|| AreaError(format!("the field \"{name}\" is missing")))
        };
        let size = |name: &str| -> Result<u32, AreaError> {
            match field(name)? {
                Json::Number(n) if n.fract() == 0.0 && (1.0..=65535.0).contains(n) => Ok(*n as u32),
                _ => err(format!("\"{name}\" must be a whole number from 1 to 65535")),
            }
        };
        let (width, height) = (size("width")?, size("height")?);
        let Json::Array(list) = field("points")? else {
            return err("\"points\" must be a list of four [x, y] pairs");
        };
        if list.len() != 4 {
            return err(format!(
                "\"points\" must hold four [x, y] pairs, not {}",
                list.len()
            ));
        }
        let mut points = [[0.0; 2]; 4];
        for (slot, item) in points.iter_mut().zip(list) {
            match item {
                Json::Array(xy) => match xy.as_slice() {
                    [Json::Number(x), Json::Number(y)] => *slot = [*x, *y],
                    _ => return err("each point must be a pair of numbers [x, y]"),
                },
                _ => return err("each point must be a pair of numbers [x, y]"),
            }
        }
        Area::new(width, height, points)
    }
}

/// A number as JSON: whole numbers without a fraction, others to 0.01.
fn number(v: f64) -> String {
    let r = (v * 100.0).round() / 100.0;
    if r == 0.0 {
        "0".to_string() // never "-0"
    } else {
        format!("{r}")
    }
}

/// Whether the corners, in order, turn the same way at each corner and that
/// way is clockwise on the screen (y down), with a non-zero area.
pub fn is_convex_clockwise(p: &[Point; 4]) -> bool {
    (0..4).all(|i| {
        let (a, b, c) = (p[i], p[(i + 1) % 4], p[(i + 2) % 4]);
        let cross = (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]);
        cross > 1e-9
    })
}

/// The projective map (3x3, row-major, `m[8] = 1`) that sends each `from[i]`
/// to `to[i]`: the solution of the 8x8 linear system
///
/// ```text
/// u = (a x + b y + c) / (g x + h y + 1)   =>  a x + b y + c - g x u - h y u = u
/// v = (d x + e y + f) / (g x + h y + 1)   =>  d x + e y + f - g x v - h y v = v
/// ```
///
/// for the four pairs. `None` when three of the points are on one line.
pub fn homography(from: &[Point; 4], to: &[Point; 4]) -> Option<[f64; 9]> {
    let mut m = [[0.0f64; 9]; 8]; // 8 equations, 8 unknowns + right-hand side
    for i in 0..4 {
        let ([x, y], [u, v]) = (from[i], to[i]);
        m[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -x * u, -y * u, u];
        m[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -x * v, -y * v, v];
    }
    let solution = solve8(m)?;
    let mut h = [1.0; 9];
    h[..8].copy_from_slice(&solution);
    Some(h)
}

/// Gaussian elimination with partial pivoting on an augmented 8x9 matrix.
fn solve8(mut m: [[f64; 9]; 8]) -> Option<[f64; 8]> {
    // Scale for the singularity test: the largest coefficient.
    let scale = m
        .iter()
        .flat_map(|r| r[..8].iter())
        .fold(0.0f64, |a, v| a.max(v.abs()))
        .max(1.0);
    for col in 0..8 {
        let pivot = (col..8).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() < 1e-10 * scale {
            return None;
        }
        m.swap(col, pivot);
        let pivot_row = m[col];
        for (row, r) in m.iter_mut().enumerate() {
            let f = r[col] / pivot_row[col];
            if row != col && f != 0.0 {
                for (a, p) in r[col..].iter_mut().zip(&pivot_row[col..]) {
                    *a -= f * p;
                }
            }
        }
    }
    let mut x = [0.0; 8];
    for (i, xi) in x.iter_mut().enumerate() {
        *xi = m[i][8] / m[i][i];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Applies a row-major 3x3 projective matrix to a point.
pub fn apply(h: &[f64; 9], [x, y]: Point) -> Point {
    let w = h[6] * x + h[7] * y + h[8];
    [
        (h[0] * x + h[1] * y + h[2]) / w,
        (h[3] * x + h[4] * y + h[5]) / w,
    ]
}

// ---------------------------------------------------------------------------
// A minimal JSON reader: enough for the area file, strict about syntax.

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Json {
    fn parse(text: &str) -> Result<Json, AreaError> {
        let mut r = Reader {
            bytes: text.as_bytes(),
            at: 0,
        };
        let v = r.value(0)?;
        r.space();
        if r.at != r.bytes.len() {
            return r.fail("unexpected text after the JSON value");
        }
        Ok(v)
    }
}

impl Reader<'_> {
    fn fail<T>(&self, what: &str) -> Result<T, AreaError> {
        err(format!("not valid JSON at byte {}: {what}", self.at))
    }

    fn space(&mut self) {
        while self
            .bytes
            .get(self.at)
            .is_some_and(|b| b" \t\r\n".contains(b))
        {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.space();
        if self.bytes.get(self.at) == Some(&b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn word(&mut self, w: &str, v: Json) -> Result<Json, AreaError> {
        if self.bytes[self.at..].starts_with(w.as_bytes()) {
            self.at += w.len();
            Ok(v)
        } else {
            self.fail("unknown word")
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, AreaError> {
        if depth > 16 {
            return self.fail("nested too deeply");
        }
        self.space();
        match self.bytes.get(self.at) {
            None => self.fail("unexpected end"),
            Some(b'{') => {
                self.at += 1;
                let mut fields = Vec::new();
                if self.eat(b'}') {
                    return Ok(Json::Object(fields));
                }
                loop {
                    self.space();
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return self.fail("expected ':'");
                    }
                    fields.push((key, self.value(depth + 1)?));
                    if self.eat(b'}') {
                        return Ok(Json::Object(fields));
                    }
                    if !self.eat(b',') {
                        return self.fail("expected ',' or '}'");
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b']') {
                        return Ok(Json::Array(items));
                    }
                    if !self.eat(b',') {
                        return self.fail("expected ',' or ']'");
                    }
                }
            }
            Some(b'"') => Ok(Json::Text(self.string()?)),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(_) => {
                let start = self.at;
                while self
                    .bytes
                    .get(self.at)
                    .is_some_and(|b| b"+-.eE0123456789".contains(b))
                {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or("");
                match text.parse::<f64>() {
                    Ok(n) if n.is_finite() && !text.is_empty() => Ok(Json::Number(n)),
                    _ => {
                        self.at = start;
                        self.fail("expected a value")
                    }
                }
            }
        }
    }

    /// A string without escapes other than \" \\ \/ (enough for keys).
    fn string(&mut self) -> Result<String, AreaError> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return self.fail("expected a string");
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.bytes.get(self.at) {
                None => return self.fail("unterminated string"),
                Some(b'"') => {
                    self.at += 1;
                    return String::from_utf8(out).or_else(|_| self.fail("not UTF-8"));
                }
                Some(b'\\') => {
                    match self.bytes.get(self.at + 1) {
                        Some(&c @ (b'"' | b'\\' | b'/')) => out.push(c),
                        _ => return self.fail("unsupported escape in a string"),
                    }
                    self.at += 2;
                }
                Some(&c) => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Point, b: Point) -> bool {
        (a[0] - b[0]).abs() < 1e-6 && (a[1] - b[1]).abs() < 1e-6
    }

    #[test]
    fn the_matrix_maps_the_output_corners_to_the_area_corners() {
        let area = Area::new(
            640,
            360,
            [[100.0, 50.0], [500.0, 80.0], [560.0, 330.0], [60.0, 300.0]],
        )
        .unwrap();
        let h = area.output_to_input(640, 360).unwrap();
        let rect = [[0.0, 0.0], [640.0, 0.0], [640.0, 360.0], [0.0, 360.0]];
        for (r, p) in rect.iter().zip(area.points) {
            assert!(close(apply(&h, *r), p), "{r:?} -> {:?}", apply(&h, *r));
        }
        // Scaled: the same area on a 1280x720 output.
        let h = area.output_to_input(1280, 720).unwrap();
        assert!(close(apply(&h, [1280.0, 720.0]), [1120.0, 660.0]));
        // The centre of the output goes to the crossing of the diagonals.
        let h = area.output_to_input(640, 360).unwrap();
        let c = apply(&h, [320.0, 180.0]);
        let [a, b, cc, d] = area.points;
        let on_line = |p: Point, q: Point| {
            ((q[0] - p[0]) * (c[1] - p[1]) - (q[1] - p[1]) * (c[0] - p[0])).abs() < 1e-6
        };
        assert!(on_line(a, cc) && on_line(b, d), "{c:?}");
    }

    #[test]
    fn a_rectangle_gives_scale_and_offset_only() {
        let area = Area::new(
            640,
            360,
            [[160.0, 90.0], [480.0, 90.0], [480.0, 270.0], [160.0, 270.0]],
        )
        .unwrap();
        assert!(area.is_rectangle(0.5));
        let h = area.output_to_input(640, 360).unwrap();
        let want = [0.5, 0.0, 160.0, 0.0, 0.5, 90.0, 0.0, 0.0, 1.0];
        for (a, b) in h.iter().zip(want) {
            assert!((a - b).abs() < 1e-9, "{h:?}");
        }
    }

    #[test]
    fn degenerate_corners_have_no_matrix() {
        let line = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]];
        let rect = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        assert_eq!(homography(&rect, &line).map(|_| ()), None);
        assert_eq!(homography(&line, &rect).map(|_| ()), None);
    }

    #[test]
    fn corners_must_be_clockwise_convex_and_inside() {
        let ok = [[10.0, 10.0], [90.0, 10.0], [90.0, 90.0], [10.0, 90.0]];
        assert!(Area::new(100, 100, ok).is_ok());
        let anticlockwise = [ok[0], ok[3], ok[2], ok[1]];
        assert!(Area::new(100, 100, anticlockwise).is_err());
        let crossed = [ok[0], ok[1], ok[3], ok[2]];
        assert!(Area::new(100, 100, crossed).is_err());
        let outside = [ok[0], [101.0, 10.0], ok[2], ok[3]];
        assert!(Area::new(100, 100, outside).is_err());
        assert!(Area::new(0, 100, ok).is_err());
    }

    #[test]
    fn json_round_trip_and_errors() {
        let area = Area::new(
            640,
            360,
            [[0.0, 0.0], [639.5, 1.25], [640.0, 360.0], [0.0, 359.0]],
        )
        .unwrap();
        let text = area.to_json();
        assert_eq!(
            text,
            "{\"width\":640,\"height\":360,\"points\":[[0,0],[639.5,1.25],[640,360],[0,359]]}\n"
        );
        assert_eq!(Area::from_json(&text).unwrap(), area);
        let spaced = "{ \"points\" : [[0,0], [639.5, 1.25e0], [640,360], [0,359]],\n \
                      \"width\": 640, \"height\": 360, \"note\": null }";
        assert_eq!(Area::from_json(spaced).unwrap(), area);
        for bad in [
            "",
            "[]",
            "{\"width\":640,\"height\":360}",
            "{\"width\":640,\"height\":360,\"points\":[[0,0],[1,0],[1,1]]}",
            "{\"width\":-1,\"height\":360,\"points\":[[0,0],[1,0],[1,1],[0,1]]}",
            "{\"width\":640,\"height\":360,\"points\":[[0,0],[1,0],[1,1],[0,\"1\"]]}",
            "{\"width\":640,\"height\":360,\"points\":[[0,0],[1,0],[1,1],[0,1]]} x",
            "{\"width\":640 \"height\":360}",
        ] {
            assert!(Area::from_json(bad).is_err(), "{bad}");
        }
    }
}
