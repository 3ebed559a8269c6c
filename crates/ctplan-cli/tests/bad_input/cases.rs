//! The catalogue's cases: the bad input each one makes, and the command that reads it.

use std::path::Path;

use ctplan_core::Mask;

use crate::make::*;

/// One catalogue entry: how to make the bad input, and the command that reads it.
pub struct Case {
    pub id: &'static str,
    pub input: &'static str,
    pub setup: fn(&Path),
    pub args: &'static [&'static str],
}

pub fn cases() -> Vec<Case> {
    vec![
        // ---- any volume reader (info shows it; every verb reads through the same code)
        Case {
            id: "missing-file",
            input: "a file that does not exist",
            setup: nothing,
            args: &["info", "none.nrrd"],
        },
        Case {
            id: "empty-nrrd",
            input: "a zero-byte `.nrrd`",
            setup: |d| write(d, "empty.nrrd", b""),
            args: &["info", "empty.nrrd"],
        },
        Case {
            id: "empty-folder",
            input: "an empty folder given as a volume",
            setup: |d| std::fs::create_dir(d.join("empty")).unwrap(),
            args: &["info", "empty"],
        },
        Case {
            id: "fifo-volume",
            input: "a FIFO named like a volume (reading it would block forever)",
            setup: |d| fifo(d, "pipe.nrrd"),
            args: &["info", "pipe.nrrd"],
        },
        Case {
            id: "unknown-extension",
            input: "a text file with an unknown extension",
            setup: |d| write(d, "notes.txt", b"hello\n"),
            args: &["info", "notes.txt"],
        },
        Case {
            id: "empty-dcm",
            input: "a zero-byte `.dcm`",
            setup: |d| write(d, "slice.dcm", b""),
            args: &["info", "slice.dcm"],
        },
        Case {
            id: "folder-of-text",
            input: "a folder holding only a text file",
            setup: |d| write(d, "notes/readme.txt", b"hello\n"),
            args: &["info", "notes"],
        },
        // ---- NRRD
        Case {
            id: "nrrd-magic",
            input: "`.nrrd` without the NRRD magic",
            setup: |d| write(d, "x.nrrd", b"PNG\nsizes: 4 4 4\n\n"),
            args: &["info", "x.nrrd"],
        },
        Case {
            id: "nrrd-huge",
            input: "`.nrrd` claiming 10⁵×10⁵×10⁵ voxels with 64 bytes of data",
            setup: |d| {
                nrrd(
                    d,
                    "x.nrrd",
                    "type: uint8\ndimension: 3\nsizes: 100000 100000 100000\nencoding: raw",
                    64,
                )
            },
            args: &["info", "x.nrrd"],
        },
        Case {
            id: "nrrd-sizes-overflow",
            input: "`.nrrd` whose sizes multiply past 2⁶⁴",
            setup: |d| {
                nrrd(
                    d,
                    "x.nrrd",
                    "type: uint8\ndimension: 3\nsizes: 4294967296 4294967296 4294967296\nencoding: raw",
                    64,
                )
            },
            args: &["info", "x.nrrd"],
        },
        Case {
            id: "nrrd-short-data",
            input: "`.nrrd` with 10×10×10 uint8 voxels declared, 5 bytes present",
            setup: |d| {
                nrrd(
                    d,
                    "x.nrrd",
                    "type: uint8\ndimension: 3\nsizes: 10 10 10\nencoding: raw",
                    5,
                )
            },
            args: &["convert", "x.nrrd", "y.nii"],
        },
        Case {
            id: "nrrd-singular-directions",
            input: "`.nrrd` whose space directions are not independent (two equal axes)",
            setup: |d| {
                nrrd(
                    d,
                    "x.nrrd",
                    &format!(
                        "{NRRD_OK}\nspace: left-posterior-superior\nspace directions: (1,0,0) (1,0,0) (0,0,1)"
                    ),
                    64,
                )
            },
            args: &["info", "x.nrrd"],
        },
        Case {
            id: "nrrd-nan-direction",
            input: "`.nrrd` with NaN in space directions",
            setup: |d| {
                nrrd(
                    d,
                    "x.nrrd",
                    &format!(
                        "{NRRD_OK}\nspace: left-posterior-superior\nspace directions: (nan,0,0) (0,1,0) (0,0,1)"
                    ),
                    64,
                )
            },
            args: &["info", "x.nrrd"],
        },
        Case {
            id: "nrrd-inf-origin",
            input: "`.nrrd` with inf in space origin",
            setup: |d| {
                nrrd(
                    d,
                    "x.nrrd",
                    &format!(
                        "{NRRD_OK}\nspace: left-posterior-superior\nspace directions: (1,0,0) (0,1,0) (0,0,1)\nspace origin: (inf,0,0)"
                    ),
                    64,
                )
            },
            args: &["info", "x.nrrd"],
        },
        Case {
            id: "nrrd-zero-spacing",
            input: "`.nrrd` with `spacings: 0 1 1`",
            setup: |d| nrrd(d, "x.nrrd", &format!("{NRRD_OK}\nspacings: 0 1 1"), 64),
            args: &["info", "x.nrrd"],
        },
        Case {
            id: "nrrd-type",
            input: "`.nrrd` of an unknown scalar type",
            setup: |d| {
                nrrd(
                    d,
                    "x.nrrd",
                    "type: complex\ndimension: 3\nsizes: 4 4 4\nencoding: raw",
                    64,
                )
            },
            args: &["info", "x.nrrd"],
        },
        Case {
            id: "nrrd-encoding",
            input: "`.nrrd` with an unsupported encoding",
            setup: |d| {
                nrrd(
                    d,
                    "x.nrrd",
                    "type: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: bzip2",
                    64,
                )
            },
            args: &["info", "x.nrrd"],
        },
        Case {
            id: "nrrd-gzip-garbage",
            input: "`.nrrd` with `encoding: gzip` and bytes that are not gzip",
            setup: |d| {
                let mut b =
                    b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: gzip\n\n"
                        .to_vec();
                b.extend(b"this is not gzip at all, not at all, no".iter());
                write(d, "x.nrrd", &b)
            },
            args: &["convert", "x.nrrd", "y.nrrd"],
        },
        Case {
            id: "nrrd-dimension",
            input: "`.nrrd` with `dimension: 3` and two sizes",
            setup: |d| {
                nrrd(
                    d,
                    "x.nrrd",
                    "type: uint8\ndimension: 3\nsizes: 4 4\nencoding: raw",
                    64,
                )
            },
            args: &["info", "x.nrrd"],
        },
        Case {
            id: "nrrd-dimension-5",
            input: "`.nrrd` of dimension 5",
            setup: |d| {
                nrrd(
                    d,
                    "x.nrrd",
                    "type: uint8\ndimension: 5\nsizes: 2 2 2 2 2\nencoding: raw",
                    64,
                )
            },
            args: &["info", "x.nrrd"],
        },
        Case {
            id: "nhdr-missing-data",
            input: "`.nhdr` whose data file does not exist",
            setup: |d| {
                write(
                    d,
                    "x.nhdr",
                    b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw\ndata file: x.raw\n\n",
                )
            },
            args: &["info", "x.nhdr"],
        },
        Case {
            id: "nhdr-fifo-data",
            input: "`.nhdr` whose data file is a FIFO",
            setup: |d| {
                write(
                    d,
                    "x.nhdr",
                    b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw\ndata file: x.raw\n\n",
                );
                fifo(d, "x.raw");
            },
            args: &["convert", "x.nhdr", "y.nrrd"],
        },
        // ---- NIfTI
        Case {
            id: "nifti-short",
            input: "`.nii` of 100 bytes",
            setup: |d| write(d, "x.nii", &[0u8; 100]),
            args: &["info", "x.nii"],
        },
        Case {
            id: "nifti-nan-pixdim",
            input: "`.nii` with a NaN voxel size and no sform/qform",
            setup: |d| nifti(d, "x.nii", |h| set_f32(h, 80, f32::NAN)),
            args: &["info", "x.nii"],
        },
        Case {
            id: "nifti-singular-sform",
            input: "`.nii` whose sform has a zero column",
            setup: |d| {
                nifti(d, "x.nii", |h| {
                    sform(
                        h,
                        [
                            [1.0, 0.0, 0.0, 0.0],
                            [0.0, 1.0, 0.0, 0.0],
                            [0.0, 0.0, 0.0, 0.0],
                        ],
                    )
                })
            },
            args: &["info", "x.nii"],
        },
        Case {
            id: "nifti-huge-dims",
            input: "`.nii` claiming 32767³ voxels of float64 with 64 bytes of data",
            setup: |d| {
                nifti(d, "x.nii", |h| {
                    for i in 1..4 {
                        set_i16(h, 40 + 2 * i, 32767);
                    }
                    set_i16(h, 70, 64);
                    set_i16(h, 72, 64);
                })
            },
            args: &["info", "x.nii"],
        },
        Case {
            id: "nifti-vox-offset",
            input: "`.nii` whose vox_offset points past the end of the file",
            setup: |d| nifti(d, "x.nii", |h| set_f32(h, 108, 1.0e9)),
            args: &["convert", "x.nii", "y.nrrd"],
        },
        Case {
            id: "nifti-negative-dim",
            input: "`.nii` with a negative size",
            setup: |d| nifti(d, "x.nii", |h| set_i16(h, 42, -4)),
            args: &["info", "x.nii"],
        },
        Case {
            id: "niigz-not-gzip",
            input: "`.nii.gz` that is not gzip",
            setup: |d| write(d, "x.nii.gz", b"definitely not gzip data here"),
            args: &["info", "x.nii.gz"],
        },
        Case {
            id: "niigz-truncated",
            input: "`.nii.gz` cut in the middle of its data",
            setup: |d| {
                nifti(d, "full.nii", |_| {});
                let full = std::fs::read(d.join("full.nii")).unwrap();
                std::fs::remove_file(d.join("full.nii")).unwrap();
                let mut g = gzip(&full);
                g.truncate(g.len() / 2);
                write(d, "x.nii.gz", &g);
            },
            args: &["convert", "x.nii.gz", "y.nrrd"],
        },
        // ---- MetaImage
        Case {
            id: "mha-no-dims",
            input: "`.mha` without DimSize",
            setup: |d| {
                write(d, "x.mha", b"ObjectType = Image\nNDims = 3\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n")
            },
            args: &["info", "x.mha"],
        },
        Case {
            id: "mha-singular-transform",
            input: "`.mha` whose TransformMatrix is all zeros",
            setup: |d| {
                let mut b = b"ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementType = MET_UCHAR\nTransformMatrix = 0 0 0 0 0 0 0 0 0\nElementDataFile = LOCAL\n".to_vec();
                b.extend([0u8; 64]);
                write(d, "x.mha", &b)
            },
            args: &["info", "x.mha"],
        },
        Case {
            id: "mha-zlib-garbage",
            input: "`.mha` with `CompressedData = True` and bytes that are not zlib",
            setup: |d| {
                let mut b = b"ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementType = MET_UCHAR\nCompressedData = True\nElementDataFile = LOCAL\n".to_vec();
                b.extend(b"not zlib, not zlib, not zlib".iter());
                write(d, "x.mha", &b)
            },
            args: &["convert", "x.mha", "y.nrrd"],
        },
        Case {
            id: "mhd-missing-data",
            input: "`.mhd` whose data file does not exist",
            setup: |d| {
                write(d, "x.mhd", b"ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementType = MET_UCHAR\nElementDataFile = x.raw\n")
            },
            args: &["info", "x.mhd"],
        },
        // ---- outputs: nothing the command did not create is replaced or deleted
        Case {
            id: "convert-onto-input",
            input: "`convert` with the output equal to the input",
            setup: |d| write_mask(d, "x.nrrd"),
            args: &["convert", "x.nrrd", "x.nrrd"],
        },
        Case {
            id: "convert-existing-output",
            input: "`convert` onto an existing file, without `--force`",
            setup: |d| {
                write_mask(d, "x.nrrd");
                write(d, "y.nii", b"someone else's file");
            },
            args: &["convert", "x.nrrd", "y.nii"],
        },
        Case {
            id: "convert-unknown-output",
            input: "`convert` to an unknown extension",
            setup: |d| write_mask(d, "x.nrrd"),
            args: &["convert", "x.nrrd", "y.xyz"],
        },
        Case {
            id: "convert-missing-folder",
            input: "`convert` into a folder that does not exist",
            setup: |d| write_mask(d, "x.nrrd"),
            args: &["convert", "x.nrrd", "missing/y.nrrd"],
        },
        Case {
            id: "convert-output-is-folder",
            input: "`convert` to a path that is a folder",
            setup: |d| {
                write_mask(d, "x.nrrd");
                std::fs::create_dir(d.join("out.nrrd")).unwrap();
            },
            args: &["convert", "x.nrrd", "out.nrrd"],
        },
        Case {
            id: "mesh-unknown-format",
            input: "`mesh` to an unknown extension",
            setup: |d| write_mask(d, "x.nrrd"),
            args: &["mesh", "x.nrrd", "-o", "x.xyz"],
        },
        Case {
            id: "mesh-empty-mask",
            input: "`mesh` of a mask without a voxel",
            setup: |d| {
                ctplan_io::write_mask(&d.join("x.nrrd"), &Mask::zeros([4, 4, 4], geometry()))
                    .unwrap()
            },
            args: &["mesh", "x.nrrd", "-o", "x.stl"],
        },
        Case {
            id: "implant-mesh-extension",
            input: "`implant --mesh` with an unknown extension: refused before the design",
            setup: |d| write_mask(d, "skull.nrrd"),
            args: &[
                "implant",
                "skull.nrrd",
                "-o",
                "implant.nrrd",
                "--mesh",
                "implant.xyz",
            ],
        },
        Case {
            id: "implant-mesh-folder",
            input: "`implant --mesh` into a folder that does not exist: refused before the design",
            setup: |d| write_mask(d, "skull.nrrd"),
            args: &[
                "implant",
                "skull.nrrd",
                "-o",
                "implant.nrrd",
                "--mesh",
                "missing/implant.stl",
            ],
        },
        Case {
            id: "lung-output-is-input",
            input: "`lung plan` with the case folder equal to the anatomy folder",
            setup: lung_anatomy,
            args: &["lung", "plan", "anatomy", "-o", "anatomy"],
        },
        Case {
            id: "lung-output-contains-input",
            input: "`lung plan` with the case folder a parent of the anatomy folder",
            setup: lung_anatomy,
            args: &["lung", "plan", "anatomy", "-o", "."],
        },
        Case {
            id: "lung-output-foreign-folder",
            input: "`lung plan` onto an existing folder that is not a ctplan case, without `--force`",
            setup: |d| {
                lung_anatomy(d);
                write(d, "photos/holiday.jpg", b"\xff\xd8\xff");
            },
            args: &["lung", "plan", "anatomy", "-o", "photos"],
        },
        Case {
            id: "lung-empty-airway",
            input: "`lung plan` on an anatomy whose airway mask is empty",
            setup: empty_lung_anatomy,
            args: &["lung", "plan", "anatomy", "-o", "case"],
        },
        Case {
            id: "lung-no-anatomy",
            input: "`lung plan` on a folder without any anatomy mask",
            setup: |d| write(d, "anatomy/readme.txt", b"nothing here"),
            args: &["lung", "plan", "anatomy", "-o", "case"],
        },
        Case {
            id: "lung-model-no-trachea",
            input: "`lung model` on a CT with bone specks in air: no body with a trachea",
            setup: |d| write_ct(d, "ct.nrrd"),
            args: &["lung", "model", "ct.nrrd", "-o", "model"],
        },
        Case {
            id: "lung-model-head-ct",
            input: "`lung model` on a head CT (skull and brain, no trachea or lungs)",
            setup: |d| write_no_chest(d, "head.nrrd", true, 3.0),
            args: &["lung", "model", "head.nrrd", "-o", "model"],
        },
        Case {
            id: "lung-model-no-lungs",
            input: "`lung model` on a neck CT: a trachea, no lungs in the field",
            setup: |d| write_no_chest(d, "neck.nrrd", false, 3.0),
            args: &["lung", "model", "neck.nrrd", "-o", "model"],
        },
        Case {
            id: "lung-model-10mm-slices",
            input: "`lung model` on a CT with 10 mm slices",
            setup: |d| write_no_chest(d, "thick.nrrd", false, 10.0),
            args: &["lung", "model", "thick.nrrd", "-o", "model"],
        },
        Case {
            id: "lung-model-mask-as-ct",
            input: "`lung model` given a mask (0 and 1) as the CT",
            setup: |d| write_mask(d, "lungs.nrrd"),
            args: &["lung", "model", "lungs.nrrd", "-o", "model"],
        },
        Case {
            id: "lung-plan-ct-no-lungs",
            input: "`lung plan` straight on a CT without lungs in the field",
            setup: |d| write_no_chest(d, "neck.nrrd", false, 3.0),
            args: &["lung", "plan", "neck.nrrd", "-o", "case"],
        },
        Case {
            id: "lung-model-nodule-nan",
            input: "`lung model --nodule` with a coordinate that is not a number",
            setup: |d| write_ct(d, "ct.nrrd"),
            args: &[
                "lung", "model", "ct.nrrd", "-o", "model", "--nodule", "1,NaN,2",
            ],
        },
        Case {
            id: "lung-model-nodule-outside-lungs",
            input: "`lung model --nodule` at a point in the mediastinum, outside both lungs",
            setup: |d| write_chest(d, "chest.nrrd"),
            args: &[
                "lung",
                "model",
                "chest.nrrd",
                "-o",
                "model",
                "--nodule",
                "0,60,0",
            ],
        },
        Case {
            id: "lung-model-nodule-outside-ct",
            input: "`lung model --nodule` at a point outside the CT",
            setup: |d| write_chest(d, "chest.nrrd"),
            args: &[
                "lung",
                "model",
                "chest.nrrd",
                "-o",
                "model",
                "--nodule",
                "0,0,900",
            ],
        },
        Case {
            id: "lung-plan-nodule-on-masks",
            input: "`lung plan --nodule` on an anatomy of masks (a lesion grows from a CT)",
            setup: lung_anatomy,
            args: &[
                "lung", "plan", "anatomy", "-o", "case", "--nodule", "0,0,20",
            ],
        },
        Case {
            id: "lung-model-output-is-input-folder",
            input: "`lung model` writing its case folder into the folder of its CT",
            setup: |d| {
                std::fs::create_dir(d.join("scans")).unwrap();
                write_ct(d, "scans/ct.nrrd");
            },
            args: &["lung", "model", "scans/ct.nrrd", "-o", "scans"],
        },
        Case {
            id: "skull-inject-output-contains-input",
            input: "`skull inject` writing into the folder of its input",
            setup: |d| write_mask(d, "skulls/a.nrrd"),
            args: &[
                "skull", "inject", "skulls", "-o", "skulls", "--style", "cube",
            ],
        },
        Case {
            id: "demo-foreign-folder",
            input: "`demo` onto an existing folder that is not a ctplan output, without `--force`",
            setup: |d| write(d, "thesis/chapter1.tex", b"\\chapter{One}"),
            args: &["demo", "-o", "thesis"],
        },
        // ---- numeric options out of range
        Case {
            id: "threads-huge",
            input: "`--threads 100000`",
            setup: |d| write_mask(d, "x.nrrd"),
            args: &["--threads", "100000", "info", "x.nrrd"],
        },
        Case {
            id: "threads-zero",
            input: "`--threads 0`",
            setup: |d| write_mask(d, "x.nrrd"),
            args: &["--threads", "0", "info", "x.nrrd"],
        },
        Case {
            id: "mesh-smooth-huge",
            input: "`mesh --smooth 4000000000`",
            setup: |d| write_mask(d, "x.nrrd"),
            args: &["mesh", "x.nrrd", "-o", "x.stl", "--smooth", "4000000000"],
        },
        Case {
            id: "mesh-decimate-zero",
            input: "`mesh --decimate 0`",
            setup: |d| write_mask(d, "x.nrrd"),
            args: &["mesh", "x.nrrd", "-o", "x.stl", "--decimate", "0"],
        },
        Case {
            id: "mesh-decimate-nan",
            input: "`mesh --decimate NaN`",
            setup: |d| write_mask(d, "x.nrrd"),
            args: &["mesh", "x.nrrd", "-o", "x.stl", "--decimate", "NaN"],
        },
        Case {
            id: "inject-count-huge",
            input: "`skull inject --count 100000`",
            setup: |d| write_mask(d, "skulls/a.nrrd"),
            args: &[
                "skull", "inject", "skulls", "-o", "out", "--style", "cube", "--count", "100000",
            ],
        },
        Case {
            id: "inject-style",
            input: "`skull inject --style` of an unknown style",
            setup: |d| write_mask(d, "skulls/a.nrrd"),
            args: &["skull", "inject", "skulls", "-o", "out", "--style", "round"],
        },
        Case {
            id: "lung-fev1-nan",
            input: "`lung plan --fev1 NaN`",
            setup: lung_anatomy,
            args: &[
                "lung", "plan", "anatomy", "-o", "case", "--resect", "RB1", "--fev1", "NaN",
            ],
        },
        Case {
            id: "lung-fev1-negative",
            input: "`lung plan --fev1 -2`",
            setup: lung_anatomy,
            args: &[
                "lung",
                "plan",
                "anatomy",
                "-o",
                "case",
                "--resect",
                "RB1",
                "--fev1=-2",
            ],
        },
        Case {
            id: "lung-margin-negative",
            input: "`lung plan --margin-k -1`",
            setup: lung_anatomy,
            args: &["lung", "plan", "anatomy", "-o", "case", "--margin-k=-1"],
        },
        Case {
            id: "lung-resect-nan-point",
            input: "`lung plan --resect NaN,0,0`",
            setup: lung_anatomy,
            args: &[
                "lung", "plan", "anatomy", "-o", "case", "--resect", "NaN,0,0",
            ],
        },
        Case {
            id: "eval-band-negative",
            input: "`eval --band -3`",
            setup: |d| write_mask(d, "x.nrrd"),
            args: &[
                "eval",
                "--pred",
                "x.nrrd",
                "--truth",
                "x.nrrd",
                "--defective",
                "x.nrrd",
                "--band=-3",
            ],
        },
        Case {
            id: "segment-threshold-nan",
            input: "`skull segment --threshold NaN`",
            setup: |d| write_ct(d, "ct.nrrd"),
            args: &[
                "skull",
                "segment",
                "ct.nrrd",
                "-o",
                "skull.nrrd",
                "--threshold",
                "NaN",
            ],
        },
        Case {
            id: "segment-fill-negative",
            input: "`skull segment --fill-ml -1`",
            setup: |d| write_ct(d, "ct.nrrd"),
            args: &[
                "skull",
                "segment",
                "ct.nrrd",
                "-o",
                "skull.nrrd",
                "--fill-ml=-1",
            ],
        },
        // ---- other files a verb reads
        Case {
            id: "implant-prior-garbage",
            input: "`implant --prior` with a file that is not a shape prior",
            setup: |d| {
                write_mask(d, "skull.nrrd");
                write(d, "bad.ctprior", b"not a prior");
            },
            args: &[
                "implant",
                "skull.nrrd",
                "-o",
                "implant.nrrd",
                "--prior",
                "bad.ctprior",
            ],
        },
        Case {
            id: "implant-net-garbage",
            input: "`implant --net` with a file that is not safetensors",
            setup: |d| {
                write_mask(d, "skull.nrrd");
                write(d, "bad.safetensors", &[0xff; 16]);
            },
            args: &[
                "implant",
                "skull.nrrd",
                "-o",
                "implant.nrrd",
                "--net",
                "bad.safetensors",
            ],
        },
        Case {
            id: "implant-voxel-net-huge-header",
            input: "`implant --voxel-net` whose safetensors header claims 2⁶³ bytes",
            setup: |d| {
                write_mask(d, "skull.nrrd");
                write(d, "bad.safetensors", &u64::MAX.to_le_bytes());
            },
            args: &[
                "implant",
                "skull.nrrd",
                "-o",
                "implant.nrrd",
                "--voxel-net",
                "bad.safetensors",
            ],
        },
        Case {
            id: "eval-grid-mismatch",
            input: "`eval` of a prediction on another grid than the truth",
            setup: |d| {
                write_mask(d, "pred/a.nrrd");
                write_mask(d, "truth/a.nrrd");
                write_mask(d, "defective/a.nrrd");
                ctplan_io::write_mask(&d.join("pred/a.nrrd"), &Mask::zeros([5, 5, 5], geometry()))
                    .unwrap();
            },
            args: &[
                "eval",
                "--pred",
                "pred",
                "--truth",
                "truth",
                "--defective",
                "defective",
            ],
        },
        Case {
            id: "eval-origin-mismatch",
            input: "`eval` of a prediction on a grid shifted by 3 mm from the truth's",
            setup: |d| {
                write_mask(d, "pred/a.nrrd");
                write_mask(d, "truth/a.nrrd");
                write_mask(d, "defective/a.nrrd");
                let mut m = mask();
                m.geometry.origin[2] += 3.0;
                ctplan_io::write_mask(&d.join("pred/a.nrrd"), &m).unwrap();
            },
            args: &[
                "eval",
                "--pred",
                "pred",
                "--truth",
                "truth",
                "--defective",
                "defective",
            ],
        },
        Case {
            id: "eval-no-pairs",
            input: "`eval` of folders that share no case name",
            setup: |d| {
                write_mask(d, "pred/a.nrrd");
                write_mask(d, "truth/b.nrrd");
                write_mask(d, "defective/b.nrrd");
            },
            args: &[
                "eval",
                "--pred",
                "pred",
                "--truth",
                "truth",
                "--defective",
                "defective",
            ],
        },
        // ---- DICOM files, built byte by byte (make.rs)
        Case {
            id: "dicom-truncated",
            input: "a DICOM slice cut in the middle of its header",
            setup: |d| {
                let f = dicom_slice();
                write(d, "x.dcm", &f[..300]);
            },
            args: &["info", "x.dcm"],
        },
        Case {
            id: "dicom-huge-element-info",
            input: "a 39 KB DICOM whose element length claims 4 GB",
            setup: |d| write(d, "x.dcm", &huge_element()),
            args: &["info", "x.dcm"],
        },
        Case {
            id: "dicom-huge-element-scan",
            input: "the same file under `dicom scan`",
            setup: |d| write(d, "series/x.dcm", &huge_element()),
            args: &["dicom", "scan", "series"],
        },
        Case {
            id: "dicom-huge-element-anonymize",
            input: "the same file under `dicom anonymize`",
            setup: |d| write(d, "x.dcm", &huge_element()),
            args: &[
                "dicom",
                "anonymize",
                "x.dcm",
                "-o",
                "anon.dcm",
                "--key",
                "k",
            ],
        },
        Case {
            id: "dicom-frames-forged",
            input: "an uncompressed slice declaring 2³¹−1 frames",
            setup: |d| {
                write(
                    d,
                    "x.dcm",
                    &dicom_with(
                        EXPLICIT_LE,
                        |e| set(e, el((0x0028, 0x0008), b"IS", b"2147483647")),
                        native_pixels(),
                    ),
                )
            },
            args: &["info", "x.dcm"],
        },
        Case {
            id: "dicom-rows-zero",
            input: "a slice with Rows = 0",
            setup: |d| {
                write(
                    d,
                    "x.dcm",
                    &dicom_with(
                        EXPLICIT_LE,
                        |e| set(e, el((0x0028, 0x0010), b"US", &0u16.to_le_bytes())),
                        native_pixels(),
                    ),
                )
            },
            args: &["info", "x.dcm"],
        },
        Case {
            id: "dicom-pixels-short",
            input: "a 4×4 16-bit slice with 10 bytes of pixel data",
            setup: |d| {
                write(
                    d,
                    "x.dcm",
                    &dicom_with(EXPLICIT_LE, |_| {}, el((0x7FE0, 0x0010), b"OW", &[0; 10])),
                )
            },
            args: &["info", "x.dcm"],
        },
        Case {
            id: "dicom-no-pixels",
            input: "a CT slice without pixel data",
            setup: |d| write(d, "x.dcm", &dicom_file(EXPLICIT_LE, &ct_slice_elements())),
            args: &["dicom", "convert", "x.dcm", "-o", "ct.nrrd"],
        },
        Case {
            id: "dicom-orientation-zero",
            input: "a slice whose ImageOrientationPatient is all zeros",
            setup: |d| {
                write(
                    d,
                    "x.dcm",
                    &dicom_with(
                        EXPLICIT_LE,
                        |e| set(e, el((0x0020, 0x0037), b"DS", b"0\\0\\0\\0\\0\\0")),
                        native_pixels(),
                    ),
                )
            },
            args: &["info", "x.dcm"],
        },
        Case {
            id: "dicom-position-nan",
            input: "a slice whose ImagePositionPatient is NaN",
            setup: |d| {
                write(
                    d,
                    "x.dcm",
                    &dicom_with(
                        EXPLICIT_LE,
                        |e| set(e, el((0x0020, 0x0032), b"DS", b"nan\\nan\\nan")),
                        native_pixels(),
                    ),
                )
            },
            args: &["info", "x.dcm"],
        },
        Case {
            id: "dicom-spacing-zero",
            input: "a slice whose PixelSpacing is 0",
            setup: |d| {
                write(
                    d,
                    "x.dcm",
                    &dicom_with(
                        EXPLICIT_LE,
                        |e| set(e, el((0x0028, 0x0030), b"DS", b"0\\0")),
                        native_pixels(),
                    ),
                )
            },
            args: &["info", "x.dcm"],
        },
        Case {
            id: "dicom-bits-allocated",
            input: "a slice with BitsAllocated = 0",
            setup: |d| {
                write(
                    d,
                    "x.dcm",
                    &dicom_with(
                        EXPLICIT_LE,
                        |e| set(e, el((0x0028, 0x0100), b"US", &0u16.to_le_bytes())),
                        native_pixels(),
                    ),
                )
            },
            args: &["info", "x.dcm"],
        },
        Case {
            id: "dicom-rle-segment-count",
            input: "an RLE slice whose header claims 2³¹ segments",
            setup: |d| {
                let mut f = rle_frame();
                f[0..4].copy_from_slice(&0x8000_0000u32.to_le_bytes());
                write(
                    d,
                    "x.dcm",
                    &dicom_with(RLE, |_| {}, encapsulated_pixels(&[f])),
                );
            },
            args: &["info", "x.dcm"],
        },
        Case {
            id: "dicom-rle-offset",
            input: "an RLE slice whose second segment starts past the end of the frame",
            setup: |d| {
                let mut f = rle_frame();
                f[8..12].copy_from_slice(&100_000u32.to_le_bytes());
                write(
                    d,
                    "x.dcm",
                    &dicom_with(RLE, |_| {}, encapsulated_pixels(&[f])),
                );
            },
            args: &["info", "x.dcm"],
        },
        Case {
            id: "dicom-rle-flipped-byte",
            input: "an RLE slice with one flipped byte (a literal run longer than its segment)",
            setup: |d| {
                let mut f = rle_frame();
                f[64] = 0x7f;
                write(
                    d,
                    "x.dcm",
                    &dicom_with(RLE, |_| {}, encapsulated_pixels(&[f])),
                );
            },
            args: &["dicom", "convert", "x.dcm", "-o", "ct.nrrd"],
        },
        Case {
            id: "dicom-rle-replicate",
            input: "an RLE slice whose run repeats a byte past the frame's end",
            setup: |d| {
                let mut f = rle_frame();
                f[64] = 0x81;
                write(
                    d,
                    "x.dcm",
                    &dicom_with(RLE, |_| {}, encapsulated_pixels(&[f])),
                );
            },
            args: &["dicom", "convert", "x.dcm", "-o", "ct.nrrd"],
        },
        Case {
            id: "dicom-jpeg-garbage",
            input: "a JPEG baseline slice whose fragment is not JPEG",
            setup: |d| {
                write(
                    d,
                    "x.dcm",
                    &dicom_with(
                        JPEG_BASELINE,
                        |e| set(e, el((0x0028, 0x0100), b"US", &8u16.to_le_bytes())),
                        encapsulated_pixels(&[b"\xff\xd8\xff\xe0 not a jpeg".to_vec()]),
                    ),
                )
            },
            args: &["dicom", "convert", "x.dcm", "-o", "ct.nrrd"],
        },
        Case {
            id: "dicom-j2k-garbage",
            input: "a JPEG 2000 slice whose fragment is not a codestream",
            setup: |d| {
                write(
                    d,
                    "x.dcm",
                    &dicom_with(
                        JPEG_2000,
                        |_| {},
                        encapsulated_pixels(&[b"\xff\x4f\xff\x51 broken".to_vec()]),
                    ),
                )
            },
            args: &["dicom", "convert", "x.dcm", "-o", "ct.nrrd"],
        },
        Case {
            id: "dicom-zip-of-garbage",
            input: "a valid zip holding one file that is not DICOM",
            setup: |d| write(d, "study.zip", &zip_one("IM0001", b"not dicom")),
            args: &["dicom", "convert", "study.zip", "-o", "ct.nrrd"],
        },
        Case {
            id: "dicom-series-missing",
            input: "`PATH#SERIES` naming a series the folder does not hold",
            setup: |d| write(d, "series/x.dcm", &dicom_slice()),
            args: &["dicom", "convert", "series#99", "-o", "ct.nrrd"],
        },
        Case {
            id: "dicom-scan-empty-folder",
            input: "`dicom scan` of an empty folder",
            setup: |d| std::fs::create_dir(d.join("empty")).unwrap(),
            args: &["dicom", "scan", "empty"],
        },
        Case {
            id: "dicom-scan-fifo-folder",
            input: "`dicom scan` of a folder holding only a FIFO",
            setup: |d| {
                std::fs::create_dir(d.join("series")).unwrap();
                fifo(d, "series/IM0001");
            },
            args: &["dicom", "scan", "series"],
        },
        Case {
            id: "dicom-corrupt-zip",
            input: "a `.zip` whose central directory is garbage",
            setup: |d| {
                write(
                    d,
                    "study.zip",
                    b"PK\x03\x04 this zip is cut short and broken",
                )
            },
            args: &["dicom", "scan", "study.zip"],
        },
        Case {
            id: "dicom-convert-no-series",
            input: "`dicom convert` of a folder without DICOM",
            setup: |d| write(d, "series/readme.txt", b"hello"),
            args: &["dicom", "convert", "series", "-o", "ct.nrrd"],
        },
        Case {
            id: "dicom-anonymize-empty-dcm",
            input: "`dicom anonymize` of a zero-byte `.dcm`",
            setup: |d| write(d, "slice.dcm", b""),
            args: &["dicom", "anonymize", "slice.dcm", "-o", "anon.dcm"],
        },
    ]
}
