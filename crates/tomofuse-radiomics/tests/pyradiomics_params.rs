//! PyRadiomics parameter files: what `settings::pyradiomics_params` accepts and how it
//! names what it rejects (the key, with a "did you mean" hint for misspellings), and that a
//! file asking for an option PyRadiomics has but tomofuse does not implement is an error.

use tomofuse_radiomics::settings::pyradiomics_params::{class_features, from_yaml};
use tomofuse_radiomics::{Discretisation, Settings, extract};

fn err(yaml: &str) -> String {
    from_yaml(yaml, "t.yaml").expect_err(yaml).to_string()
}

#[test]
fn reads_pyradiomics_example_settings() {
    let p = from_yaml(
        "imageType:\n  Original: {}\n  Wavelet: {wavelet: db2, binWidth: 10}\n  Square:\n\
         featureClass:\n  firstorder: [Mean, Entropy]\n  glcm:\n\
         setting:\n  binWidth: 5\n  label: 2\n  interpolator: 'sitkBSpline'\n  \
         resampledPixelSpacing: ~\n  resegmentRange: [-50, 300]\n  voxelArrayShift: 1000\n  \
         gldm_a: 1\n  force2D: false\n  minimumROISize: 10\n",
        "t.yaml",
    )
    .unwrap();
    let s = &p.settings;
    assert_eq!((p.label, p.label_given), (2, true));
    assert_eq!(
        s.discretisation,
        Discretisation::FixedBinSize { bin_width: 5.0 }
    );
    assert_eq!(s.resegmentation.range, Some([-50.0, 300.0]));
    assert_eq!(s.pyradiomics.voxel_array_shift, 1000.0);
    assert_eq!(s.texture.ngldm_alpha, 1);
    assert!(s.families.statistics && s.families.glcm && !s.families.morphology);
    assert!(!s.families.glrlm && !s.families.ngldm);
    let types = s.image_types().unwrap();
    let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "original",
            "wavelet-LLH",
            "wavelet-LHL",
            "wavelet-LHH",
            "wavelet-HLL",
            "wavelet-HLH",
            "wavelet-HHL",
            "wavelet-HHH",
            "wavelet-LLL",
            "square"
        ]
    );
    assert_eq!(
        types[1].settings.discretisation,
        Discretisation::FixedBinSize { bin_width: 10.0 }
    );
    // Levels: `wavelet2-` names, the approximation of the last level only.
    let p = from_yaml(
        "imageType:\n  Wavelet: {level: 2}\nfeatureClass:\n  glcm:\n",
        "t",
    )
    .unwrap();
    let names: Vec<String> = p
        .settings
        .image_types()
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names.len(), 15);
    assert_eq!(names[7], "wavelet2-LLH");
    assert_eq!(names[14], "wavelet2-LLL");
    // An empty file: Original, every default class, binWidth 25, label 1.
    let p = from_yaml("", "t").unwrap();
    assert_eq!((p.label, p.label_given), (1, false));
    assert_eq!(
        p.settings.discretisation,
        Discretisation::FixedBinSize { bin_width: 25.0 }
    );
}

#[test]
fn unknown_and_misspelt_keys_are_named() {
    for (yaml, want) in [
        ("imageType:\n  Wavlet: {}\n", "imageType.Wavlet"),
        ("imageType:\n  Wavlet: {}\n", "did you mean `Wavelet`"),
        ("imageType:\n  log: {sigma: [1.0]}\n", "did you mean `LoG`"),
        ("setting:\n  binwidth: 25\n", "setting.binwidth"),
        ("setting:\n  binwidth: 25\n", "did you mean `binWidth`"),
        ("setting:\n  colour: red\n", "unknown setting `colour`"),
        ("featureClass:\n  glcmm:\n", "featureClass.glcmm"),
        (
            "featureClass:\n  glcm: [Contrastt]\n",
            "featureClass.glcm[0]",
        ),
        (
            "featureClass:\n  glcm: [Contrastt]\n",
            "did you mean `Contrast`",
        ),
        ("settings:\n  binWidth: 25\n", "did you mean `setting`"),
        (
            "imageType:\n  Wavelet: {wavelet: coif99}\n",
            "imageType.Wavelet.wavelet",
        ),
        (
            "imageType:\n  Wavelet: {wavelet: coif99}\n",
            "unknown wavelet `coif99`",
        ),
        ("setting:\n  binWidth: 0\n", "setting.binWidth"),
        ("setting:\n  binWidth: -3\n", "must be > 0"),
        ("setting:\n  label: 0\n", "setting.label"),
        ("setting:\n  sigma: [0.0]\n", "setting.sigma[0]"),
        (
            "imageType:\n  LoG: {sigma: [0]}\n",
            "imageType.LoG.sigma[0]",
        ),
        (
            "imageType:\n  Original: {}\n  Square: {padDistance: 3}\n",
            "imageType.Square.padDistance",
        ),
        (
            "setting:\n  interpolator: sitkCubic\n",
            "setting.interpolator",
        ),
        (
            "setting:\n  resegmentRange: [300, -50]\n",
            "setting.resegmentRange",
        ),
        ("imageType: [Original]\n", "imageType"),
    ] {
        let e = err(yaml);
        assert!(e.contains(want), "{yaml:?}: `{e}` lacks `{want}`");
        assert!(
            e.contains("t.yaml"),
            "{yaml:?}: `{e}` does not name the file"
        );
    }
    // A YAML syntax error names the file.
    assert!(err("imageType: {Original: {}\n").contains("t.yaml"));
}

#[test]
fn options_tomofuse_does_not_implement_are_errors() {
    for (yaml, key) in [
        ("setting:\n  normalize: true\n", "setting.normalize"),
        (
            "setting:\n  resampledPixelSpacing: [1, 1, 1]\n",
            "setting.resampledPixelSpacing",
        ),
        ("setting:\n  distances: [1, 2]\n", "setting.distances"),
        (
            "setting:\n  weightingNorm: infinity\n",
            "setting.weightingNorm",
        ),
        (
            "setting:\n  resegmentMode: sigma\n",
            "setting.resegmentMode",
        ),
        (
            "setting:\n  resegmentShape: true\n",
            "setting.resegmentShape",
        ),
        (
            "setting:\n  force2D: true\n  force2Ddimension: 1\n",
            "setting.force2Ddimension",
        ),
        (
            "setting:\n  symmetricalGLCM: false\n",
            "setting.symmetricalGLCM",
        ),
        (
            "voxelSetting:\n  kernelRadus: 2\n",
            "voxelSetting.kernelRadus",
        ),
        (
            "voxelSetting:\n  kernelRadius: 0\n",
            "voxelSetting.kernelRadius",
        ),
        (
            "voxelSetting:\n  kernelRadius: 1.5\n",
            "voxelSetting.kernelRadius",
        ),
        (
            "voxelSetting:\n  maskedKernel: 2\n",
            "voxelSetting.maskedKernel",
        ),
        (
            "voxelSetting:\n  initValue: zero\n",
            "voxelSetting.initValue",
        ),
        (
            "voxelSetting:\n  voxelBatch: 0\n",
            "voxelSetting.voxelBatch",
        ),
        ("voxelSetting: 3\n", "voxelSetting"),
        ("featureClass:\n  shape2D:\n", "featureClass.shape2D"),
        ("imageType:\n  LBP2D: {}\n", "imageType.LBP2D"),
        (
            "imageType:\n  Original: {}\n  Square: {}\nsetting:\n  preCrop: true\n",
            "setting.preCrop",
        ),
        (
            "imageType:\n  Wavelet: {}\nfeatureClass:\n  shape:\n",
            "imageType",
        ),
    ] {
        let e = err(yaml);
        assert!(e.contains(key), "{yaml:?}: `{e}` does not name `{key}`");
    }
}

/// The feature names the parser accepts are exactly those the families report.
#[test]
fn class_feature_lists_match_the_computed_features() {
    use tomofuse_core::{Geometry, Mask, Volume};
    let g = Geometry::with_spacing([1.0, 1.0, 2.0]).unwrap();
    let img = Volume::new(
        ndarray::Array3::from_shape_fn((10, 9, 8), |(i, j, k)| {
            ((i * 7 + j * 3 + k * 5) % 13) as f32 * 10.0
        }),
        g,
    )
    .unwrap();
    let m: Mask = Volume::new(
        ndarray::Array3::from_shape_fn((10, 9, 8), |(i, j, k)| {
            u8::from((2..8).contains(&i) && (2..7).contains(&j) && (1..7).contains(&k))
        }),
        g,
    )
    .unwrap();
    let ex = extract(
        &img,
        &m,
        1,
        &Settings::preset("pyradiomics-default").unwrap(),
    )
    .unwrap();
    for class in [
        "shape",
        "firstorder",
        "glcm",
        "glrlm",
        "glszm",
        "gldm",
        "ngtdm",
    ] {
        // The same names (the output follows PyRadiomics' key order, the list the crate's).
        let mut got: Vec<&str> = ex
            .features
            .iter()
            .filter(|f| f.family == class)
            .map(|f| f.name.as_str())
            .collect();
        let mut want = class_features(class).unwrap().to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{class}");
    }
    assert_eq!(ex.features.len(), 107);
}

/// `featureClass` lists keep only the listed features; `minimumROISize` is enforced.
#[test]
fn feature_lists_and_roi_checks_apply() {
    use tomofuse_core::{Geometry, Mask, Volume};
    let g = Geometry::with_spacing([1.0, 1.0, 1.0]).unwrap();
    let img = Volume::new(
        ndarray::Array3::from_shape_fn((8, 8, 8), |(i, j, k)| (i * 20 + j * 3 + k) as f32),
        g,
    )
    .unwrap();
    let inside = |i: usize| (2..6).contains(&i);
    let m: Mask = Volume::new(
        ndarray::Array3::from_shape_fn((8, 8, 8), |(i, j, k)| {
            u8::from(inside(i) && inside(j) && inside(k))
        }),
        g,
    )
    .unwrap();
    let p = from_yaml(
        "featureClass:\n  firstorder: [Mean, Median]\n  glcm: [Contrast]\n",
        "t",
    )
    .unwrap();
    let ex = extract(&img, &m, 1, &p.settings).unwrap();
    let cols: Vec<String> = ex.features.iter().map(|f| f.column()).collect();
    assert_eq!(
        cols,
        [
            "original_firstorder_Mean",
            "original_firstorder_Median",
            "original_glcm_Contrast"
        ]
    );
    let p = from_yaml("setting:\n  minimumROISize: 65\n", "t").unwrap();
    let e = extract(&img, &m, 1, &p.settings).unwrap_err().to_string();
    assert!(e.contains("minimumROISize"), "{e}");
}

/// `voxelSetting` is read as the file gives it (absent keys stay None); a misspelt key is an
/// error naming it, with the closest known key.
#[test]
fn voxel_setting_is_read_and_checked() {
    use tomofuse_radiomics::settings::pyradiomics_params::VoxelSetting;
    let p = from_yaml(
        "setting:\n  binWidth: 25\nvoxelSetting:\n  kernelRadius: 2\n  maskedKernel: false\n  \
         initValue: .nan\n  voxelBatch: 500\n",
        "t.yaml",
    )
    .unwrap();
    assert_eq!(p.voxel.kernel_radius, Some(2));
    assert_eq!(p.voxel.masked_kernel, Some(false));
    assert!(p.voxel.init_value.unwrap().is_nan());
    assert_eq!(p.voxel.voxel_batch, Some(500));
    let p = from_yaml(
        "voxelSetting:\n  initValue: 0\n  voxelBatch: -1\n",
        "t.yaml",
    )
    .unwrap();
    assert_eq!(p.voxel.init_value, Some(0.0));
    assert_eq!(p.voxel.kernel_radius, None);
    assert_eq!(
        from_yaml("setting:\n  binWidth: 25\n", "t.yaml")
            .unwrap()
            .voxel,
        VoxelSetting::default()
    );
    let e = err("voxelSetting:\n  maskedKernal: true\n");
    assert!(
        e.contains("voxelSetting.maskedKernal") && e.contains("did you mean `maskedKernel`"),
        "{e}"
    );
}
