// SPDX-License-Identifier: MPL-2.0
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
//! The file is read and written with serde_json; `Area::new` checks what it
//! says.
#![allow(dead_code)] // each user needs a different part

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

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
        let file = AreaFile {
            width: self.width,
            height: self.height,
            points: self.points.iter().map(|p| p.map(Coordinate)).collect(),
        };
        serde_json::to_string(&file).expect("an area serialises") + "\n"
    }

    /// Reads an area from its JSON text; unknown fields are ignored.
    pub fn from_json(text: &str) -> Result<Self, AreaError> {
        let file: AreaFile = serde_json::from_str(text).map_err(|e| AreaError(e.to_string()))?;
        let size = |name: &str, v: u32| match v {
            1..=65535 => Ok(v),
            _ => err(format!("\"{name}\" must be a whole number from 1 to 65535")),
        };
        let (width, height) = (size("width", file.width)?, size("height", file.height)?);
        let points = <[[Coordinate; 2]; 4]>::try_from(file.points.as_slice()).or_else(|_| {
            err(format!(
                "\"points\" must hold four [x, y] pairs, not {}",
                file.points.len()
            ))
        })?;
        Area::new(width, height, points.map(|p| p.map(|c| c.0)))
    }
}

/// The area file as it is stored:
/// `{"width":W,"height":H,"points":[[x,y],[x,y],[x,y],[x,y]]}`.
#[derive(Serialize, Deserialize)]
#[serde(expecting = "a JSON object with width, height and points")]
struct AreaFile {
    width: u32,
    height: u32,
    points: Vec<[Coordinate; 2]>,
}

/// A coordinate in the file: written to 0.01, whole numbers without a
/// fraction (`640`, not `640.0`), never `-0`.
#[derive(Clone, Copy, Deserialize)]
#[serde(transparent)]
struct Coordinate(f64);

impl Serialize for Coordinate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = (self.0 * 100.0).round() / 100.0;
        // Exact for whole numbers of pixels: pictures are at most 65535 wide.
        if r.fract() == 0.0 && r.abs() < 1e15 {
            s.serialize_i64(r as i64)
        } else {
            s.serialize_f64(r)
        }
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
