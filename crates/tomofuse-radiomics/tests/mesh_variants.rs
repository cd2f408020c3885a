//! Diagnostic (ignored): mesh volume/area of the CT phantom ROI under each mesh option.

use tomofuse_radiomics::mesh::{MeshOptions, mesh_with};
use tomofuse_radiomics::{Settings, roi::Roi};

#[test]
#[ignore = "diagnostic: prints mesh variants"]
fn mesh_variants_ct() {
    let Some(dir) = tomofuse_core::require_shared("reference/ibsi") else {
        return;
    };
    let image = tomofuse_io::read_image(&dir.join("ct_phantom/nifti/image.nii.gz")).unwrap();
    let mask = tomofuse_io::read_mask(&dir.join("ct_phantom/nifti/mask.nii.gz")).unwrap();
    let s = Settings::preset("ibsi-a").unwrap();
    let dimage = tomofuse_io::read_image(&dir.join("digital_phantom/image.nii.gz")).unwrap();
    let dmask = tomofuse_io::read_mask(&dir.join("digital_phantom/mask.nii.gz")).unwrap();
    let ds = Settings::preset("ibsi-digital-phantom").unwrap();
    let droi = Roi::build(&dimage, &dmask, 1, &ds).unwrap();
    for join in [false] {
        for t in 0..6 {
            let m = mesh_with(
                &droi.morph,
                droi.dims,
                droi.spacing,
                MeshOptions {
                    join_inside: join,
                    triangulation: t,
                },
            )
            .unwrap();
            let asph =
                (m.area.powi(3) / (36.0 * std::f64::consts::PI * m.volume.powi(2))).cbrt() - 1.0;
            println!(
                "phantom join {join} tri {t}: V {:.2} A {:.2} asph {:.5}",
                m.volume, m.area, asph
            );
        }
    }
    let roi = Roi::build(&image, &mask, 1, &s).unwrap();
    let sc = Settings::preset("ibsi-c").unwrap();
    let rc = Roi::build(&image.map(|v| v.round()), &mask, 1, &sc).unwrap();
    for join in [false] {
        for t in 0..6 {
            let m = mesh_with(
                &rc.morph,
                rc.dims,
                rc.spacing,
                MeshOptions {
                    join_inside: join,
                    triangulation: t,
                },
            )
            .unwrap();
            let c2 = 36.0 * std::f64::consts::PI * m.volume.powi(2) / m.area.powi(3);
            println!(
                "configC join {join} tri {t}: V {:.1} A {:.1} comp2 {:.5}",
                m.volume, m.area, c2
            );
        }
    }
    for join in [false] {
        for t in 0..6 {
            let m = mesh_with(
                &roi.morph,
                roi.dims,
                roi.spacing,
                MeshOptions {
                    join_inside: join,
                    triangulation: t,
                },
            )
            .unwrap();
            let c2 = 36.0 * std::f64::consts::PI * m.volume.powi(2) / m.area.powi(3);
            println!(
                "join {join} tri {t}: V {:.1} A {:.1} comp2 {:.5}",
                m.volume, m.area, c2
            );
        }
    }
}
